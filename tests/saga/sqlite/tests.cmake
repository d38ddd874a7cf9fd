# SQLite event store tests: need the optional target bulwark::sqlite.
if(TARGET bulwark::sqlite)
  add_library(${_exe}_deps INTERFACE)
  target_link_libraries(${_exe}_deps INTERFACE bulwark::sqlite)
else()
  message(STATUS "bulwark: ${_exe} is off: bulwark::sqlite is off (SQLite3 not found)")
  set(_srcs "")
endif()
