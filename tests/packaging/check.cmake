# MODE=install: installs bulwark into a temporary prefix and builds a find_package consumer.
# MODE=subdirectory: builds a consumer that add_subdirectory()s the source tree.
# MODE=plain: the README's install commands with default options on a machine without the test
#   dependencies (Catch2 and Google Benchmark hidden from find_package): configure must succeed,
#   say that the tests are off, install, and a find_package consumer must build.
set(_prefix ${WORK}/prefix)
set(_cbuild ${WORK}/consumer-${MODE})
file(REMOVE_RECURSE ${_cbuild})
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGV}\n${out}\n${err}")
  endif()
endfunction()
if(MODE STREQUAL "plain")
  file(REMOVE_RECURSE ${WORK}/plain-build ${WORK}/plain-prefix)
  set(_prefix ${WORK}/plain-prefix)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/plain-build -G Ninja
                  -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_INSTALL_PREFIX=${_prefix}
                  -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "plain configure without test dependencies failed:\n${out}\n${err}")
  endif()
  if(NOT out MATCHES "tests are off")
    message(FATAL_ERROR "plain configure did not say that the tests are off:\n${out}")
  endif()
  run(${CMAKE_COMMAND} --install ${WORK}/plain-build)
  run(${CMAKE_COMMAND} -S ${SOURCE}/tests/packaging/consumer -B ${_cbuild} -G Ninja
      -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${_prefix} -DCONSUMER_MODE=find_package)
elseif(MODE STREQUAL "install")
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
