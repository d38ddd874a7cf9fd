# tests/transport/http -> bulwark_tests_transport_http: the HTTP transport, its health probe and
# the discovery sources, against servers the tests start on loopback (our Beast server,
# nats-server). Needs the optional target bulwark::http; NATS KV discovery also needs
# bulwark::nats and bulwark::json, the file source bulwark::json.
if(NOT TARGET bulwark::http)
  message(STATUS "bulwark: HTTP transport tests are off: target bulwark::http is missing")
  set(_srcs "")
elseif(NOT TARGET ${_exe}_deps)
  add_library(${_exe}_deps INTERFACE)
  target_link_libraries(${_exe}_deps INTERFACE bulwark::http)
  if(TARGET bulwark::json)
    target_link_libraries(${_exe}_deps INTERFACE bulwark::json)
    target_compile_definitions(${_exe}_deps INTERFACE BULWARK_TEST_HAS_JSON=1)
  else()
    message(STATUS "bulwark: discovery source tests are off: bulwark::json is missing")
  endif()
  if(TARGET bulwark::nats)
    target_link_libraries(${_exe}_deps INTERFACE bulwark::nats)
    target_compile_definitions(${_exe}_deps INTERFACE BULWARK_TEST_HAS_NATS=1)
    if(BULWARK_NATS_SERVER)
      target_compile_definitions(${_exe}_deps INTERFACE
                                 BULWARK_NATS_SERVER="${BULWARK_NATS_SERVER}")
    endif()
  else()
    message(STATUS "bulwark: NATS KV discovery tests are off: bulwark::nats is missing")
  endif()
endif()

# Header self-check of the HTTP and discovery headers (tests/CMakeLists.txt skips them: they need
# optional packages): each compiles on its own where its dependencies exist.
if(TARGET bulwark::http AND NOT TARGET bulwark_http_selfcheck)
  file(GLOB_RECURSE _http_headers RELATIVE ${PROJECT_SOURCE_DIR}/include CONFIGURE_DEPENDS
       ${PROJECT_SOURCE_DIR}/include/bulwark/transport/http.hpp
       ${PROJECT_SOURCE_DIR}/include/bulwark/transport/http/*.hpp
       ${PROJECT_SOURCE_DIR}/include/bulwark/balance/discovery/*.hpp)
  if(NOT TARGET bulwark::json)
    list(FILTER _http_headers EXCLUDE REGEX "balance/discovery/")
  elseif(NOT TARGET bulwark::nats)
    list(FILTER _http_headers EXCLUDE REGEX "nats_kv")
  endif()
  set(_http_selfcheck)
  foreach(h IN LISTS _http_headers)
    string(MAKE_C_IDENTIFIER ${h} _id)
    set(_cpp ${CMAKE_CURRENT_BINARY_DIR}/selfcheck/${_id}.cpp)
    file(CONFIGURE OUTPUT ${_cpp} CONTENT "#include <${h}>\n#include <${h}> // include guard\n")
    list(APPEND _http_selfcheck ${_cpp})
  endforeach()
  add_library(bulwark_http_selfcheck OBJECT ${_http_selfcheck})
  target_link_libraries(bulwark_http_selfcheck PRIVATE ${_exe}_deps)
  bulwark_strict_warnings(bulwark_http_selfcheck)
endif()
