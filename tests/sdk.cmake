# The installed SDK: a third-party plugin and program built against it alone.
add_test(NAME sdk_install_and_template_plugin COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sdk/run.sh
  ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
