# bulwark_tests_observe_http: trace context across an HTTP hop (our HTTP transport to a Beast
# server on loopback). Needs bulwark::http (skipped with a message without).
if(NOT TARGET bulwark::http)
  message(STATUS "bulwark: observe HTTP tests are off: bulwark::http is not available")
  set(_srcs "")
  return()
endif()
add_library(${_exe}_deps INTERFACE)
target_link_libraries(${_exe}_deps INTERFACE bulwark::http)
