# The HTTP transport benchmark (benchmarks/transport/http.cpp): needs bulwark::http. Included from
# bench.cmake (the folder's one bench.cmake is shared with the NATS benchmark).
if(TARGET bulwark::http)
  if(NOT TARGET bulwark_bench_transport_deps)
    add_library(bulwark_bench_transport_deps INTERFACE)
  endif()
  target_link_libraries(bulwark_bench_transport_deps INTERFACE bulwark::http)
else()
  message(STATUS "bulwark: HTTP benchmark is off: bulwark::http is missing")
  list(FILTER _srcs EXCLUDE REGEX "/http\\.cpp$")
endif()
