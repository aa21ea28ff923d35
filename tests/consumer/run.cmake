# ctest's consumer test: installs the already-built ember into a fresh prefix, configures and
# builds tests/consumer against it with find_package(ember) and CMake's Release flags (nothing
# else: a user's plain build; the same program also at -O2 and -O0), then runs them.
#   cmake -DEMBER_BUILD=<build dir> -DSOURCE=<tests/consumer> -DWORK=<scratch dir>
#         -DGENERATOR=<gen> -DCXX=<compiler> [-DLAUNCHER=ccache] -P run.cmake
foreach(v EMBER_BUILD SOURCE WORK GENERATOR CXX)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run.cmake: -D${v}=... is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "consumer test: `${cmd}` failed (${rc})")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK})
set(prefix ${WORK}/prefix)
# Installing copies the built library and headers (nothing is rebuilt).
run(${CMAKE_COMMAND} --install ${EMBER_BUILD} --prefix ${prefix})
set(launcher)
if(LAUNCHER)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/build -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix} ${launcher})
run(${CMAKE_COMMAND} --build ${WORK}/build)
run(${WORK}/build/consumer)
run(${WORK}/build/consumer_o2)
run(${WORK}/build/consumer_o0)
run(${WORK}/build/consumer_native)
