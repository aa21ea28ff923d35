# Runs COMMAND (a ;-list) and passes only if it fails and its output contains EXPECT.
# cmake -DCOMMAND=... -DEXPECT=... -P expect_abort.cmake
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "expected the job to fail, it exited with 0")
endif()
string(FIND "${out}${err}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "expected the output to contain: ${EXPECT}")
endif()
