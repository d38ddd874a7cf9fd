# bulwark::nats: the NATS transport (core + JetStream) over cnats (Debian: libnats-dev).
# Found through pkg-config `libnats`: cnats 3.4.1's own CMake config file aborts configure on
# Debian (it names a static library the package does not ship; ../shared/reference/nats.md), so
# it is used only behind the explicit opt-in BULWARK_NATS_USE_CNATS_CONFIG (a cnats built from
# source). Without pkg-config, a plain find_path/find_library fallback.
option(BULWARK_NATS_USE_CNATS_CONFIG "Find cnats through its CMake config (source builds only)" OFF)
set(_bulwark_nats_why "")
if(BULWARK_NATS_USE_CNATS_CONFIG)
  find_package(cnats CONFIG QUIET)
  if(TARGET cnats::nats)
    add_library(bulwark_cnats INTERFACE)
    target_link_libraries(bulwark_cnats INTERFACE cnats::nats)
  endif()
else()
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(BULWARK_LIBNATS QUIET IMPORTED_TARGET GLOBAL libnats>=3.4)
  endif()
  if(TARGET PkgConfig::BULWARK_LIBNATS)
    add_library(bulwark_cnats INTERFACE)
    target_link_libraries(bulwark_cnats INTERFACE PkgConfig::BULWARK_LIBNATS)
  else()
    find_path(BULWARK_NATS_INCLUDE_DIR nats/nats.h)
    find_library(BULWARK_NATS_LIBRARY NAMES nats)
    if(BULWARK_NATS_INCLUDE_DIR AND BULWARK_NATS_LIBRARY)
      add_library(bulwark_cnats INTERFACE)
      target_include_directories(bulwark_cnats INTERFACE ${BULWARK_NATS_INCLUDE_DIR})
      target_link_libraries(bulwark_cnats INTERFACE ${BULWARK_NATS_LIBRARY})
    endif()
  endif()
endif()

if(NOT TARGET bulwark_cnats)
  message(STATUS "bulwark: NATS transport is off: cnats not found (install libnats-dev and pkg-config)")
  return()
endif()

add_library(bulwark_nats INTERFACE)
add_library(bulwark::nats ALIAS bulwark_nats)
set_target_properties(bulwark_nats PROPERTIES EXPORT_NAME nats)
# In the build tree the found cnats target; installed, the plain library name (-lnats), so that
# the exported target does not name this build's pkg-config target.
target_link_libraries(bulwark_nats INTERFACE bulwark::bulwark Threads::Threads
                      $<BUILD_INTERFACE:bulwark_cnats> $<INSTALL_INTERFACE:nats>)
find_program(BULWARK_NATS_SERVER nats-server HINTS /usr/sbin /usr/local/sbin /usr/local/bin)
if(BULWARK_NATS_SERVER)
  message(STATUS "bulwark: NATS transport is on (nats-server for tests: ${BULWARK_NATS_SERVER})")
else()
  message(STATUS "bulwark: NATS transport is on (nats-server not found: its tests will be skipped)")
endif()
if(BULWARK_INSTALL)
  install(TARGETS bulwark_nats EXPORT bulwarkTargets)
endif()
