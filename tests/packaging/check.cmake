# MODE=install: installs bulwark into a temporary prefix and builds a find_package consumer.
# MODE=subdirectory: builds a consumer that add_subdirectory()s the source tree.
set(_prefix ${WORK}/prefix)
set(_cbuild ${WORK}/consumer-${MODE})
file(REMOVE_RECURSE ${_cbuild})
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGV}\n${out}\n${err}")
  endif()
endfunction()
if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${WORK}/bulwark-build ${_prefix})
  run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/bulwark-build -G Ninja -DCMAKE_CXX_COMPILER=${CXX}
      -DBULWARK_BUILD_TESTS=OFF -DBULWARK_BUILD_EXAMPLES=OFF -DBULWARK_INSTALL=ON
      -DCMAKE_INSTALL_PREFIX=${_prefix})
  run(${CMAKE_COMMAND} --install ${WORK}/bulwark-build)
  run(${CMAKE_COMMAND} -S ${SOURCE}/tests/packaging/consumer -B ${_cbuild} -G Ninja
      -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${_prefix} -DCONSUMER_MODE=find_package)
else()
  run(${CMAKE_COMMAND} -S ${SOURCE}/tests/packaging/consumer -B ${_cbuild} -G Ninja
      -DCMAKE_CXX_COMPILER=${CXX} -DCONSUMER_MODE=subdirectory -DBULWARK_SOURCE=${SOURCE})
endif()
run(${CMAKE_COMMAND} --build ${_cbuild})
run(${_cbuild}/consumer)
message(STATUS "consumer (${MODE}) built and ran")
