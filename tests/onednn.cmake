# The oneDNN plugin's tests: test_onednn (a Criterion program, built by the
# generic loop in CMakeLists.txt) needs the plugin built first, and the
# conformance run of nnrt-check on the onednn device, when both exist.
if(TARGET test_onednn)
  if(TARGET nnrt-onednn)
    add_dependencies(test_onednn nnrt-onednn)
  endif()
  # fallbacks are expected there: keep their one-time warnings quiet
  set_tests_properties(test_onednn PROPERTIES ENVIRONMENT "NNRT_LOG=error;NNRT_FALLBACK=allow")
endif()
if(TARGET nnrt-check AND TARGET nnrt-onednn)
  add_test(NAME onednn_conformance COMMAND nnrt-check --backend onednn)
  set_tests_properties(onednn_conformance PROPERTIES ENVIRONMENT "NNRT_BACKEND=onednn;NNRT_LOG=error")
endif()
# Both again with oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA), as on a CPU
# without AVX-512: oneDNN runs other kernels there (prelu's backward got
# NaN where AVX-512's did not; softmax backward has none but its reference
# one, so ref runs it).  About two seconds together.
if(TARGET test_onednn AND TARGET nnrt-onednn)
  add_test(NAME test_onednn_avx2 COMMAND test_onednn --jobs 2)
  set_tests_properties(test_onednn_avx2 PROPERTIES ENVIRONMENT "NNRT_LOG=error;NNRT_FALLBACK=allow;ONEDNN_MAX_CPU_ISA=AVX2")
endif()
if(TARGET nnrt-check AND TARGET nnrt-onednn)
  add_test(NAME onednn_conformance_avx2 COMMAND nnrt-check --backend onednn)
  set_tests_properties(onednn_conformance_avx2 PROPERTIES ENVIRONMENT "NNRT_BACKEND=onednn;NNRT_LOG=error;ONEDNN_MAX_CPU_ISA=AVX2")
endif()
