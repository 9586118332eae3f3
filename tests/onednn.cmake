# The oneDNN plugin's tests: test_onednn (a Criterion program, built by the
# generic loop in CMakeLists.txt) needs the plugin built first, and the
# conformance run of nnrt-check on the onednn device, when both exist.
# Each runs twice: with the ISA oneDNN picks here, and capped at AVX2
# (ONEDNN_MAX_CPU_ISA), as on a CPU without AVX-512: oneDNN runs other
# kernels there (prelu's backward got NaN where AVX-512's did not; softmax
# backward has none but its reference one, so ref runs it).  The capped
# runs take about two seconds together.
if(TARGET test_onednn AND TARGET nnrt-onednn)
  add_dependencies(test_onednn nnrt-onednn)
endif()
foreach(isa NATIVE AVX2)
  if(isa STREQUAL "NATIVE")
    set(sfx "")
    set(cap "")
  else()
    string(TOLOWER "_${isa}" sfx)
    set(cap ";ONEDNN_MAX_CPU_ISA=${isa}")
  endif()
  # (test_onednn itself exists, and skips, without the plugin)
  if(TARGET test_onednn AND (TARGET nnrt-onednn OR NOT sfx))
    if(sfx)
      add_test(NAME test_onednn${sfx} COMMAND test_onednn --jobs 2)
    endif()
    # fallbacks are expected there: keep their one-time warnings quiet
    set_tests_properties(test_onednn${sfx} PROPERTIES ENVIRONMENT "NNRT_LOG=error;NNRT_FALLBACK=allow${cap}")
  endif()
  if(TARGET nnrt-check AND TARGET nnrt-onednn)
    add_test(NAME onednn_conformance${sfx} COMMAND nnrt-check --backend onednn)
    set_tests_properties(onednn_conformance${sfx} PROPERTIES ENVIRONMENT "NNRT_BACKEND=onednn;NNRT_LOG=error${cap}")
  endif()
endforeach()
