# cmake -DPAGE=docs/nixos-containersd.8 -P man_page.cmake
# Fails when groff finds anything to say about the man page (it reports
# problems on stderr and still exits 0), or is missing (groff-base).
find_program(GROFF groff)
if(NOT GROFF)
  message(FATAL_ERROR "groff is missing (Debian: apt-get install groff-base)")
endif()
execute_process(COMMAND ${GROFF} -man -ww -z ${PAGE}
                RESULT_VARIABLE status ERROR_VARIABLE warnings OUTPUT_VARIABLE output)
if(NOT status EQUAL 0 OR NOT warnings STREQUAL "" OR NOT output STREQUAL "")
  message(FATAL_ERROR "groff -man -ww -z ${PAGE} (exit ${status}):\n${warnings}${output}")
endif()
message(STATUS "${PAGE}: groff -man -ww -z is silent")
