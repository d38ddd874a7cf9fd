# The event store benchmarks link SQLite (bulwark::sqlite) and, when available, cnats
# (bulwark::nats, with nats-server started by the benchmark itself on 127.0.0.1).
if(NOT TARGET bulwark_bench_eventsource_deps)
  add_library(bulwark_bench_eventsource_deps INTERFACE)
  if(TARGET bulwark::sqlite)
    target_link_libraries(bulwark_bench_eventsource_deps INTERFACE bulwark::sqlite)
    target_compile_definitions(bulwark_bench_eventsource_deps INTERFACE BULWARK_BENCH_SQLITE=1)
  endif()
  if(TARGET bulwark::nats)
    target_link_libraries(bulwark_bench_eventsource_deps INTERFACE bulwark::nats)
    target_compile_definitions(bulwark_bench_eventsource_deps INTERFACE BULWARK_BENCH_NATS=1)
    if(BULWARK_NATS_SERVER)
      target_compile_definitions(bulwark_bench_eventsource_deps INTERFACE
                                 BULWARK_NATS_SERVER="${BULWARK_NATS_SERVER}")
    endif()
  endif()
endif()
