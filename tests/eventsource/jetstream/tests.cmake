# JetStream event store tests: real nats-server processes on 127.0.0.1 (single node and a 3-node
# cluster, started by the tests; skipped loudly when nats-server is missing). Need bulwark::nats.
if(TARGET bulwark::nats)
  add_library(${_exe}_deps INTERFACE)
  target_link_libraries(${_exe}_deps INTERFACE bulwark::nats)
  if(TARGET bulwark::sqlite) # the outbox-to-JetStream test
    target_link_libraries(${_exe}_deps INTERFACE bulwark::sqlite)
    target_compile_definitions(${_exe}_deps INTERFACE BULWARK_TEST_SQLITE=1)
  endif()
  if(BULWARK_NATS_SERVER)
    target_compile_definitions(${_exe}_deps INTERFACE BULWARK_NATS_SERVER="${BULWARK_NATS_SERVER}")
  endif()
else()
  message(STATUS "bulwark: ${_exe} is off: bulwark::nats is not available (cnats)")
  set(_srcs "")
endif()
