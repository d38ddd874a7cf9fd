# tests/selfcheck.cmake: every public header compiles on its own (a .cpp that includes it twice),
# with the strict warnings of BULWARK_STRICT_WARNINGS. Included before the sanitizer presets stop.
file(GLOB_RECURSE _public_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/include
     ${PROJECT_SOURCE_DIR}/include/bulwark/*.hpp)
set(_selfcheck_srcs)
foreach(h IN LISTS _public_headers)
  # Headers of optional parts are checked by their own targets, where their dependency exists.
  # channel/bus/byte_front.hpp is a part of bus.hpp, included at bus.hpp's end (including bus.hpp
  # back would make the pair include each other); it is compiled through bus.hpp.
  if(h MATCHES "transport/(nats|http)|balance/discovery/|codec/json|asio|prometheus|channel/bus/byte_front")
    continue()
  endif()
  string(MAKE_C_IDENTIFIER ${h} _id)
  set(_cpp ${CMAKE_CURRENT_BINARY_DIR}/selfcheck/${_id}.cpp)
  file(CONFIGURE OUTPUT ${_cpp} CONTENT "#include <${h}>\n#include <${h}> // include guard\n")
  list(APPEND _selfcheck_srcs ${_cpp})
endforeach()
# Every header after every other: a name one header declares must not clash with (or, under
# gcc's -Wshadow, seem to be shadowed by) another's, in whatever order a user includes them.
set(_together "#include <bulwark/bulwark.hpp>\n")
foreach(h IN LISTS _public_headers)
  if(NOT h MATCHES "transport/(nats|http)|balance/discovery/|codec/json|asio|prometheus|channel/bus/byte_front")
    string(APPEND _together "#include <${h}>\n")
  endif()
endforeach()
set(_together_cpp ${CMAKE_CURRENT_BINARY_DIR}/selfcheck/all_headers_after_umbrella.cpp)
file(CONFIGURE OUTPUT ${_together_cpp} CONTENT "${_together}")
list(APPEND _selfcheck_srcs ${_together_cpp})
if(BULWARK_SANITIZED)
  # Under a sanitizer preset only the warnings matter (gcc's dev preset checks each header alone):
  # one file that includes every header keeps clang's strict check without 150 more compiles, and
  # the TSan preset (not strict) skips it.
  if(NOT BULWARK_STRICT_WARNINGS)
    return()
  endif()
  set(_all ${CMAKE_CURRENT_BINARY_DIR}/selfcheck/all_headers.cpp)
  set(_text "")
  foreach(h IN LISTS _public_headers)
    if(NOT h MATCHES "transport/(nats|http)|balance/discovery/|codec/json|asio|prometheus|channel/bus/byte_front")
      string(APPEND _text "#include <${h}>\n")
    endif()
  endforeach()
  file(CONFIGURE OUTPUT ${_all} CONTENT "${_text}")
  set(_selfcheck_srcs ${_all})
endif()
add_library(bulwark_header_selfcheck OBJECT ${_selfcheck_srcs})
target_link_libraries(bulwark_header_selfcheck PRIVATE bulwark::bulwark)
bulwark_strict_warnings(bulwark_header_selfcheck)
