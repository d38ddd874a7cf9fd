# bulwark::json: the JSON codec over nlohmann-json 3 (Debian: nlohmann-json3-dev).
find_package(nlohmann_json 3 QUIET)
if(NOT TARGET nlohmann_json::nlohmann_json)
  message(STATUS "bulwark: JSON codec is off: nlohmann_json 3 not found (install nlohmann-json3-dev)")
  return()
endif()
add_library(bulwark_json INTERFACE)
add_library(bulwark::json ALIAS bulwark_json)
set_target_properties(bulwark_json PROPERTIES EXPORT_NAME json)
# Header-only: installed consumers find <nlohmann/json.hpp> on their include path.
target_link_libraries(bulwark_json INTERFACE bulwark::bulwark
                      $<BUILD_INTERFACE:nlohmann_json::nlohmann_json>)
if(BULWARK_INSTALL)
  install(TARGETS bulwark_json EXPORT bulwarkTargets)
endif()
