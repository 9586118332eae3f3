# tests/tools.cmake - the tool tests (nnrt-info, nnrt-run, nnrt-check) and
# the cases library for the generic tests.  Included by tests/CMakeLists.txt.
#
# tools_helper (tests/tools_helper.c) writes the small .npy inputs at test
# time and checks a command's exit status together with its output.

# test_gradcheck and test_bad_inputs run the cases of tools/common/cases.def
foreach(t test_gradcheck test_bad_inputs)
  if(TARGET ${t})
    target_sources(${t} PRIVATE ${CMAKE_SOURCE_DIR}/tools/common/cases.c)
  endif()
endforeach()

add_executable(tools_helper ${CMAKE_CURRENT_SOURCE_DIR}/tools_helper.c ${CMAKE_SOURCE_DIR}/tools/common/npy.c)
target_include_directories(tools_helper PRIVATE ${CMAKE_SOURCE_DIR}/tools/common)
target_link_libraries(tools_helper PRIVATE nnrt m)
set_target_properties(tools_helper PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

set(NNRT_TOOLS_DATA ${CMAKE_BINARY_DIR}/tests/tools-data)
set(H $<TARGET_FILE:tools_helper>)
set(RUN $<TARGET_FILE:nnrt-run>)
set(D ${NNRT_TOOLS_DATA})

add_test(NAME tools_data COMMAND ${H} mknpy ${D})
set_tests_properties(tools_data PROPERTIES FIXTURES_SETUP tools_data)

# nnrt_tool_test(name mode regex cmd...): mode pass or fail (see tools_helper.c)
function(nnrt_tool_test name mode regex)
  add_test(NAME ${name} COMMAND ${H} ${mode} ${regex} ${ARGN})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED tools_data ENVIRONMENT "NNRT_LOG=error")
endfunction()

# ---- nnrt-info ----
nnrt_tool_test(nnrt_info pass "^  ref +\\(built in\\)" $<TARGET_FILE:nnrt-info>)
nnrt_tool_test(nnrt_info_ops pass "^cross_entropy\\(input, target: index, weight: optional\\)" $<TARGET_FILE:nnrt-info> --ops)
add_test(NAME nnrt_info_json COMMAND ${H} json $<TARGET_FILE:nnrt-info> --json)
find_program(NNRT_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NNRT_PYTHON3)
  add_test(NAME nnrt_info_ops_json COMMAND sh -c
    "\"$1\" --ops --json > \"$2\" && \"$3\" -m json.tool \"$2\" > /dev/null" sh
    $<TARGET_FILE:nnrt-info> ${CMAKE_BINARY_DIR}/tests/nnrt-info-ops.json ${NNRT_PYTHON3})
else()
  add_test(NAME nnrt_info_ops_json COMMAND ${H} json $<TARGET_FILE:nnrt-info> --ops --json)
endif()
nnrt_tool_test(nnrt_info_bad_arg fail "unknown argument" $<TARGET_FILE:nnrt-info> --bogus)

# ---- nnrt-run: working calls ----
add_test(NAME nnrt_run_relu COMMAND ${H} expect ${D}/relu.npy 0,0,0,1,2,3 --
  ${RUN} --backend ref relu --in input=${D}/x.npy --out output=${D}/relu.npy)
add_test(NAME nnrt_run_relu_f64_inplace COMMAND ${H} expect ${D}/relu64.npy 0,0,0,1,2,3 --
  ${RUN} --backend ref --dtype f64 relu inplace=true --in input=${D}/x.npy --out output=${D}/relu64.npy)
# grad_weight starts at w (0.5) and accumulates g^T x = column sums of x
add_test(NAME nnrt_run_linear_backward_upd COMMAND ${H} expect ${D}/gw.npy
  -0.5,1.5,3.5,-0.5,1.5,3.5,-0.5,1.5,3.5,-0.5,1.5,3.5 --
  ${RUN} --backend ref linear_backward --in grad_output=${D}/g.npy --in input=${D}/x.npy --in weight=${D}/w.npy
  --upd grad_weight=${D}/w.npy --out grad_weight=${D}/gw.npy)
set_tests_properties(nnrt_run_relu nnrt_run_relu_f64_inplace nnrt_run_linear_backward_upd PROPERTIES
  FIXTURES_REQUIRED tools_data ENVIRONMENT "NNRT_LOG=error")
# mean of (logsumexp(-2,-1,0) + 2, logsumexp(1,2,3) - 3) = 1.40760596
nnrt_tool_test(nnrt_run_cross_entropy pass "^output: f32 \\[\\] = 1\\.407606"
  ${RUN} --backend ref cross_entropy --in input=${D}/x.npy --in target=${D}/t.npy)
nnrt_tool_test(nnrt_run_help pass "^usage: nnrt-run" ${RUN} --help)
nnrt_tool_test(nnrt_run_op_help pass "label_smoothing: f64 = 0" ${RUN} cross_entropy --help)

# ---- nnrt-run: every bad argument exits non-zero with a message ----
nnrt_tool_test(nnrt_run_no_args fail "^usage: nnrt-run" ${RUN})
nnrt_tool_test(nnrt_run_unknown_op fail "unknown op 'nosuch'" ${RUN} nosuch)
nnrt_tool_test(nnrt_run_unknown_option fail "unknown option '--bogus'" ${RUN} relu --bogus 1)
nnrt_tool_test(nnrt_run_unknown_param fail "no param named 'alpha'" ${RUN} --backend ref relu alpha=2 --in input=${D}/x.npy)
nnrt_tool_test(nnrt_run_bad_param_value fail "cannot parse alpha='abc'" ${RUN} --backend ref elu alpha=abc --in input=${D}/x.npy)
nnrt_tool_test(nnrt_run_unknown_input fail "has no input named 'x'" ${RUN} --backend ref relu --in x=${D}/x.npy)
nnrt_tool_test(nnrt_run_unknown_output fail "has no output named 'y'" ${RUN} --backend ref relu --in input=${D}/x.npy --out y=${D}/y.npy)
nnrt_tool_test(nnrt_run_missing_input fail "needs --in weight=" ${RUN} --backend ref linear --in input=${D}/x.npy)
nnrt_tool_test(nnrt_run_missing_file fail "nofile\\.npy" ${RUN} --backend ref relu --in input=${D}/nofile.npy)
nnrt_tool_test(nnrt_run_garbage_file fail "bad\\.npy" ${RUN} --backend ref relu --in input=${D}/bad.npy)
nnrt_tool_test(nnrt_run_float_target fail "index tensor" ${RUN} --backend ref cross_entropy --in input=${D}/x.npy --in target=${D}/tf.npy)
nnrt_tool_test(nnrt_run_int_input fail "must be a float tensor" ${RUN} --backend ref relu --in input=${D}/t.npy)
nnrt_tool_test(nnrt_run_mixed_dtypes fail "is f64 but earlier inputs are f32"
  ${RUN} --backend ref linear --in input=${D}/x.npy --in weight=${D}/x64.npy)
nnrt_tool_test(nnrt_run_wrong_shape fail "in_features" ${RUN} --backend ref linear --in input=${D}/x.npy --in weight=${D}/g.npy)
nnrt_tool_test(nnrt_run_bad_value fail "label_smoothing=2" ${RUN} --backend ref cross_entropy label_smoothing=2
  --in input=${D}/x.npy --in target=${D}/t.npy)
nnrt_tool_test(nnrt_run_upd_not_update fail "--upd does not apply" ${RUN} --backend ref relu --in input=${D}/x.npy --upd output=${D}/x.npy)
nnrt_tool_test(nnrt_run_bad_dtype fail "--dtype must be f32 or f64" ${RUN} --dtype f16 relu)
nnrt_tool_test(nnrt_run_bad_backend fail "no backend 'nosuch'" ${RUN} --backend nosuch relu --in input=${D}/x.npy)
nnrt_tool_test(nnrt_run_unwritable_output fail "cannot create" ${RUN} --backend ref relu --in input=${D}/x.npy
  --out output=${D}/no/such/dir/y.npy)

# ---- nnrt-check ----
# ref f32 against ref f64: the precision of our float32 kernels
nnrt_tool_test(conformance_ref pass "^[0-9]+ passed, 0 failed$" $<TARGET_FILE:nnrt-check> --backend ref)
nnrt_tool_test(conformance_ref_f64 pass "^[0-9]+ passed, 0 failed$" $<TARGET_FILE:nnrt-check> --backend ref --dtype f64)
nnrt_tool_test(nnrt_check_exact_filter pass "^PASSED relu\\(input=n\\[4,8\\]\\)\n1 passed, 0 failed$"
  $<TARGET_FILE:nnrt-check> --backend ref --op "relu(input=n[4,8])")
# a tolerance of 0 makes f32 linear fail: the failure path and its reproducer
nnrt_tool_test(nnrt_check_reports_failures fail
  "^    repro: nnrt-check --backend ref --dtype f32 --op 'linear\\(input=n\\[4,6\\]"
  $<TARGET_FILE:nnrt-check> --backend ref --op "linear(*" --tol 0)
nnrt_tool_test(nnrt_check_no_match fail "no case matches 'nosuch'" $<TARGET_FILE:nnrt-check> --op nosuch)
nnrt_tool_test(nnrt_check_bad_backend fail "no backend 'nosuch'" $<TARGET_FILE:nnrt-check> --backend nosuch)
