# Peer of the observe benchmarks, measured in the same binary: prometheus-cpp 1.0 (Debian package
# prometheus-cpp-dev, core library only). Without it the peer's benchmarks are left out, loudly.
if(NOT TARGET bulwark_bench_observe_deps)
  add_library(bulwark_bench_observe_deps INTERFACE)
  find_package(prometheus-cpp CONFIG QUIET)
  if(prometheus-cpp_FOUND)
    target_link_libraries(bulwark_bench_observe_deps INTERFACE prometheus-cpp::core)
    target_compile_definitions(bulwark_bench_observe_deps INTERFACE BULWARK_BENCH_PROMETHEUS_CPP=1)
  else()
    message(STATUS "bulwark: bench_observe without its peer: prometheus-cpp (prometheus-cpp-dev) not found")
  endif()
endif()
