# Loader tests: deliberately broken plugins and the template plugin are
# built into build/tests/plugins, which test_loader reads through
# NNRT_PLUGIN_PATH (so normal runs never see them).
set(NNRT_TEST_PLUGIN_DIR ${CMAKE_BINARY_DIR}/tests/plugins)
foreach(kind NO_ENTRY DECLINES ABI_TOO_NEW PROBE NULL_SLOT)
  string(TOLOWER ${kind} lower)
  string(REPLACE "_" "-" lower ${lower})
  add_library(nnrt-broken-${lower} MODULE ${CMAKE_CURRENT_SOURCE_DIR}/plugins/broken.c)
  target_compile_definitions(nnrt-broken-${lower} PRIVATE BROKEN_${kind})
  target_include_directories(nnrt-broken-${lower} PRIVATE ${CMAKE_SOURCE_DIR}/include)
  set_target_properties(nnrt-broken-${lower} PROPERTIES PREFIX "lib" LIBRARY_OUTPUT_DIRECTORY ${NNRT_TEST_PLUGIN_DIR})
  add_dependencies(test_loader nnrt-broken-${lower})
endforeach()
add_library(nnrt-template-test MODULE ${CMAKE_SOURCE_DIR}/plugins/template/template.c)
target_include_directories(nnrt-template-test PRIVATE ${CMAKE_SOURCE_DIR}/include)
set_target_properties(nnrt-template-test PROPERTIES PREFIX "lib" OUTPUT_NAME nnrt-template
  LIBRARY_OUTPUT_DIRECTORY ${NNRT_TEST_PLUGIN_DIR} C_VISIBILITY_PRESET hidden)
add_dependencies(test_loader nnrt-template-test)
# a file that is not a shared object at all
file(WRITE ${NNRT_TEST_PLUGIN_DIR}/libnnrt-not-elf.so "this is not an ELF file\n")
set_tests_properties(test_loader PROPERTIES ENVIRONMENT "NNRT_PLUGIN_PATH=${NNRT_TEST_PLUGIN_DIR};NNRT_LOG=error")
