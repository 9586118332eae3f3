# tests/opencl.cmake - tests of the OpenCL backend (backends/opencl).
#  test_opencl          Criterion tests (tests/test_opencl.c); it needs the plugin built
#  opencl_conformance   every case of nnrt-check on opencl, f32 then f64, with
#                       fallback refused; skipped (not passed) where this machine
#                       has no OpenCL loader, platform or device
# test_opencl finds the plugin in build/lib/nnrt beside libnnrt.  Each test
# keeps its program cache in its own directory so that runs do not depend on
# what an earlier build left in ~/.cache/nnrt.
if(NOT TARGET nnrt-opencl)
  return()
endif()
set(NNRT_OCL_TEST_CACHE ${CMAKE_BINARY_DIR}/tests/opencl-cache)
if(TARGET test_opencl)
  add_dependencies(test_opencl nnrt-opencl)
  set_tests_properties(test_opencl PROPERTIES
    ENVIRONMENT "NNRT_LOG=error;NNRT_OPENCL_CACHE_DIR=${NNRT_OCL_TEST_CACHE}"
    TIMEOUT 600)
endif()
if(TARGET nnrt-check)
  add_dependencies(nnrt-check nnrt-opencl)
  foreach(dt f32 f64)
    add_test(NAME opencl_conformance_${dt} COMMAND nnrt-check --backend opencl --dtype ${dt})
    set_tests_properties(opencl_conformance_${dt} PROPERTIES
      ENVIRONMENT "NNRT_FALLBACK=error;NNRT_BACKEND=opencl;NNRT_OPENCL_CACHE_DIR=${NNRT_OCL_TEST_CACHE}"
      SKIP_REGULAR_EXPRESSION "backend opencl cannot be used: no (platform|device|OpenCL ICD loader)"
      TIMEOUT 600)
  endforeach()
endif()
