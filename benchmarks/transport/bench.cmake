# The NATS transport measured beside raw cnats calls doing the same work, against one local
# nats-server the benchmark starts (loopback); JSON codec cost beside hand-written nlohmann.
if(NOT TARGET bulwark_bench_transport_deps)
  if(TARGET bulwark::nats AND TARGET bulwark::json)
    add_library(bulwark_bench_transport_deps INTERFACE)
    target_link_libraries(bulwark_bench_transport_deps INTERFACE bulwark::nats bulwark::json)
    if(BULWARK_NATS_SERVER)
      target_compile_definitions(bulwark_bench_transport_deps INTERFACE
                                 BULWARK_NATS_SERVER="${BULWARK_NATS_SERVER}")
    endif()
  else()
    message(STATUS "bulwark: transport benchmarks are off: bulwark::nats or bulwark::json missing")
    set(_srcs "")
  endif()
endif()

# The HTTP transport benchmark has its own file (it needs bulwark::http).
include(${CMAKE_CURRENT_LIST_DIR}/http.cmake)
