# Peers of the channel benchmarks, measured in the same binaries as bulwark:
# - libsigc++ 3 (libsigc++-3.0-dev, via pkg-config) and Boost.Signals2 (libboost-dev, headers
#   only, already reachable through bulwark's Boost::headers) for the sync bus;
# - moodycamel::ConcurrentQueue (libconcurrentqueue-dev, headers in /usr/include/concurrentqueue)
#   for the async channels.
if(NOT TARGET bulwark_bench_channel_deps)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(BULWARK_SIGCXX REQUIRED IMPORTED_TARGET sigc++-3.0)
  find_path(BULWARK_CONCURRENTQUEUE_DIR concurrentqueue.h PATH_SUFFIXES concurrentqueue REQUIRED)
  add_library(bulwark_bench_channel_deps INTERFACE)
  target_link_libraries(bulwark_bench_channel_deps INTERFACE PkgConfig::BULWARK_SIGCXX)
  target_include_directories(bulwark_bench_channel_deps INTERFACE ${BULWARK_CONCURRENTQUEUE_DIR})
endif()
