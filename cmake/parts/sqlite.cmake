# Optional part: bulwark::sqlite, the SQLite event store, outbox and saga store
# (<bulwark/eventsource/sqlite_store.hpp>, <bulwark/saga/sqlite_store.hpp>).
# An INTERFACE target that adds SQLite3 to bulwark::bulwark; off, with the reason, when SQLite is
# not found (Debian: libsqlite3-dev).
find_package(SQLite3 QUIET)
if(NOT SQLite3_FOUND)
  message(STATUS "bulwark: SQLite stores are off: SQLite3 (libsqlite3-dev) not found")
  return()
endif()
if(SQLite3_VERSION VERSION_LESS 3.24)  # UPSERT (ON CONFLICT DO UPDATE) in the saga store
  message(STATUS "bulwark: SQLite stores are off: SQLite ${SQLite3_VERSION} is older than 3.24")
  return()
endif()
add_library(bulwark_sqlite INTERFACE)
add_library(bulwark::sqlite ALIAS bulwark_sqlite)
set_target_properties(bulwark_sqlite PROPERTIES EXPORT_NAME sqlite)
target_link_libraries(bulwark_sqlite INTERFACE bulwark::bulwark SQLite::SQLite3)
if(BULWARK_INSTALL)
  install(TARGETS bulwark_sqlite EXPORT bulwarkTargets)
endif()
if(BULWARK_INSTALL)
  # bulwarkConfig.cmake includes every bulwark-part-*.cmake: consumers find SQLite3 again there.
  file(WRITE ${PROJECT_BINARY_DIR}/bulwark-part-sqlite.cmake
       "find_package(SQLite3 QUIET)  # for bulwark::sqlite\n")
  install(FILES ${PROJECT_BINARY_DIR}/bulwark-part-sqlite.cmake
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/bulwark)
endif()
