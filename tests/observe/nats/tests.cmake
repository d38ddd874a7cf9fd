# bulwark_tests_observe_nats: trace context across two processes over a real nats-server, and
# NATS connection events as bulwark events. Needs bulwark::nats (skipped with a message without).
if(NOT TARGET bulwark::nats)
  message(STATUS "bulwark: observe NATS tests are off: bulwark::nats is not available")
  set(_srcs "")
  return()
endif()
add_library(${_exe}_deps INTERFACE)
target_link_libraries(${_exe}_deps INTERFACE bulwark::nats)
if(BULWARK_NATS_SERVER)
  target_compile_definitions(${_exe}_deps INTERFACE BULWARK_NATS_SERVER="${BULWARK_NATS_SERVER}")
endif()
