# Runs one command and checks its exit status and output; the demo.* tests use it (cmake -P).
#   -DPROGRAM=<executable> -DSPEC=<file>, where SPEC sets:
#     ARGS       the command's arguments
#     EXPECT     regexes that must all match the output (stdout then stderr)
#     REJECT     regexes that must not match it
#     WILL_FAIL  TRUE if the command must exit with a non-zero status
# CMake's regexes have no escape for a line break, so "\n" in EXPECT and REJECT stands for one.
# The output gets a line break added at both ends, so "\n...\n" can match a whole line anywhere.
include(${SPEC})
execute_process(COMMAND ${PROGRAM} ${ARGS} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
message("${out}${err}")  # what ctest --output-on-failure shows

set(problems "")
if(WILL_FAIL AND rc EQUAL 0)
  string(APPEND problems "  expected a non-zero exit status, got 0\n")
elseif(NOT WILL_FAIL AND NOT rc EQUAL 0)
  string(APPEND problems "  exit status ${rc}, expected 0\n")
endif()
set(text "\n${out}${err}\n")
foreach(pattern IN LISTS EXPECT)
  string(REPLACE "\\n" "\n" re "${pattern}")
  if(NOT text MATCHES "${re}")
    string(APPEND problems "  missing:   ${pattern}\n")
  endif()
endforeach()
foreach(pattern IN LISTS REJECT)
  string(REPLACE "\\n" "\n" re "${pattern}")
  if(text MATCHES "${re}")
    string(APPEND problems "  unwanted:  ${pattern}   (matched: '${CMAKE_MATCH_0}')\n")
  endif()
endforeach()
if(problems)
  list(JOIN ARGS " " command)
  message(FATAL_ERROR "${PROGRAM} ${command}:\n${problems}")
endif()
