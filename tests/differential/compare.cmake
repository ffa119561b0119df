# Runs the CPython and aiocpp versions of one scenario and requires identical traces.
# -DPYTHON=... -DSCRIPT=trace.py -DBINARY=aio_trace -DSCENARIO=name
execute_process(COMMAND ${PYTHON} ${SCRIPT} ${SCENARIO} OUTPUT_VARIABLE expected RESULT_VARIABLE rc_py ERROR_VARIABLE err_py)
if(NOT rc_py EQUAL 0)
  message(FATAL_ERROR "CPython scenario '${SCENARIO}' failed (${rc_py}):\n${err_py}")
endif()
execute_process(COMMAND ${BINARY} ${SCENARIO} OUTPUT_VARIABLE actual RESULT_VARIABLE rc_cpp ERROR_VARIABLE err_cpp)
if(NOT rc_cpp EQUAL 0)
  message(FATAL_ERROR "aiocpp scenario '${SCENARIO}' failed (${rc_cpp}):\n${err_cpp}")
endif()
if(NOT expected STREQUAL actual)
  message(FATAL_ERROR "traces differ for '${SCENARIO}'\n--- CPython asyncio\n${expected}--- aiocpp\n${actual}")
endif()
message(STATUS "'${SCENARIO}': identical to CPython asyncio")
