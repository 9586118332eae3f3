# tests/bench.cmake - smoke tests of nnrt-bench (tools/nnrt-bench.c): it
# runs, prints its table, writes JSON that parses, reads a baseline, draws
# its chart.  Never a timing check: performance is read from the benchmark
# (docs/PERFORMANCE.md).  --quick shrinks every case 64x and runs it once,
# so each test takes seconds.  Included by tests/CMakeLists.txt.
if(NOT TARGET nnrt-bench)
  return()
endif()

set(NNRT_BENCH $<TARGET_FILE:nnrt-bench>)
set(NNRT_BENCH_HELPER $<TARGET_FILE:tools_helper>) # tests/tools_helper.c
set(NNRT_BENCH_DIR ${CMAKE_BINARY_DIR}/tests/bench)
file(MAKE_DIRECTORY ${NNRT_BENCH_DIR})

# nnrt_bench_test(name pass|fail regex cmd...): exit status and output together
function(nnrt_bench_test name mode regex)
  add_test(NAME ${name} COMMAND ${NNRT_BENCH_HELPER} ${mode} ${regex} ${ARGN})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "NNRT_LOG=error")
endfunction()

# the canonical suite on every usable device: the relu row holds a time.
# Exit 1 (a case failed on some device: its message is in the notes) is
# tolerated here, a crash is not; nnrt-check owns correctness per device.
nnrt_bench_test(nnrt_bench_smoke pass "^relu +64x4096 GB/s +\\| +[0-9.]+ "
  sh -c "\"$@\" || [ $? -le 1 ]" sh ${NNRT_BENCH} --suite canonical --quick)
# on ref every canonical case must run
nnrt_bench_test(nnrt_bench_smoke_ref pass "^lstm fwd\\+bwd +1x64x512 GF/s +\\| +[0-9.]+ "
  ${NNRT_BENCH} --suite canonical --quick --backend ref)
# every op of ops.def runs (exit 0: no case failed) on ref
nnrt_bench_test(nnrt_bench_full pass "^softmax_backward .*\\| +[0-9.]+ "
  ${NNRT_BENCH} --suite full --quick --backend ref)
nnrt_bench_test(nnrt_bench_bad_suite fail "--suite must be canonical or full" ${NNRT_BENCH} --suite nosuch)
nnrt_bench_test(nnrt_bench_no_match fail "no case matches 'nosuch'" ${NNRT_BENCH} --op nosuch)
nnrt_bench_test(nnrt_bench_bad_reps fail "--reps must be an integer >= 1" ${NNRT_BENCH} --reps 0)

# --json output parses (python3 -m json.tool, else tools_helper's parser)
find_program(NNRT_BENCH_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
set(NNRT_BENCH_JSON ${NNRT_BENCH_DIR}/bench.json)
if(NNRT_BENCH_PYTHON3)
  add_test(NAME nnrt_bench_json COMMAND sh -c
    "\"$1\" --quick --backend ref --op 'relu*' --op softmax --op cross_entropy* --json \"$2\" > /dev/null && \"$3\" -m json.tool \"$2\" > /dev/null"
    sh ${NNRT_BENCH} ${NNRT_BENCH_JSON} ${NNRT_BENCH_PYTHON3})
else()
  add_test(NAME nnrt_bench_json COMMAND ${NNRT_BENCH_HELPER} json sh -c
    "\"$1\" --quick --backend ref --op 'relu*' --op softmax --op cross_entropy* --json \"$2\" > /dev/null && cat \"$2\""
    sh ${NNRT_BENCH} ${NNRT_BENCH_JSON})
endif()
set_tests_properties(nnrt_bench_json PROPERTIES ENVIRONMENT "NNRT_LOG=error")

# --baseline: a PyTorch column from a hand-written file (1000 ms for relu)
file(WRITE ${NNRT_BENCH_DIR}/baseline-fixture.json
  "{\"schema\": \"nnrt-bench/1\", \"tool\": \"pytorch_baseline\",\n"
  " \"devices\": [{\"name\": \"pytorch\", \"backend\": \"pytorch\", \"version\": \"torch fixture\"}],\n"
  " \"results\": [{\"label\": \"relu\", \"device\": \"pytorch\", \"status\": \"ok\", \"median_ms\": 1000.0}]}\n")
nnrt_bench_test(nnrt_bench_baseline pass "^relu .*\\| +1000\\.0 +[0-9.]+x$"
  ${NNRT_BENCH} --quick --backend ref --op relu --baseline ${NNRT_BENCH_DIR}/baseline-fixture.json)
nnrt_bench_test(nnrt_bench_bad_baseline fail "nofile\\.json" ${NNRT_BENCH} --quick --baseline ${NNRT_BENCH_DIR}/nofile.json)

# --plot writes a PNG (its 8-byte signature checked by od)
add_test(NAME nnrt_bench_plot COMMAND sh -c
  "rm -f \"$2\" && \"$1\" --quick --backend ref --op 'relu*' --op softmax --plot \"$2\" > /dev/null && od -An -tx1 -N8 \"$2\" | grep -q '89 50 4e 47 0d 0a 1a 0a'"
  sh ${NNRT_BENCH} ${NNRT_BENCH_DIR}/bench.png)
set_tests_properties(nnrt_bench_plot PROPERTIES ENVIRONMENT "NNRT_LOG=error")

# tools/bench/pytorch_baseline.py end to end, skipped (77) without torch
if(NNRT_BENCH_PYTHON3)
  add_test(NAME nnrt_bench_pytorch_baseline COMMAND sh -c
    "\"$3\" -c 'import torch' 2> /dev/null || exit 77; \"$3\" \"$4\" --quick --op relu --json \"$2\" > /dev/null && \"$1\" --quick --backend ref --op relu --baseline \"$2\" | grep -Eq '^  pytorch +torch'"
    sh ${NNRT_BENCH} ${NNRT_BENCH_DIR}/pytorch-quick.json ${NNRT_BENCH_PYTHON3}
    ${CMAKE_SOURCE_DIR}/tools/bench/pytorch_baseline.py)
  set_tests_properties(nnrt_bench_pytorch_baseline PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT "NNRT_LOG=error")
endif()
