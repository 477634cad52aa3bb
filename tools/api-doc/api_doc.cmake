# cmake -DMODE=write|check -DPYTHON=... -DGENERATOR=... -DKEY_ROWS=...
#       -DINTERFACES=... -DDOC=... -DWORK=... -P api_doc.cmake
# write: regenerates DOC. check: fails, with the diff, when DOC is not what
# the generator makes of the current contract.
execute_process(COMMAND ${KEY_ROWS} OUTPUT_FILE ${WORK}/spec-key-rows.json RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "spec-key-rows failed: ${status}")
endif()
execute_process(COMMAND ${PYTHON} ${GENERATOR} --interfaces ${INTERFACES} --keys ${WORK}/spec-key-rows.json
                        --out ${WORK}/api.md
                RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "gen_api_doc.py failed: ${status}")
endif()
if(MODE STREQUAL "write")
  file(COPY_FILE ${WORK}/api.md ${DOC} ONLY_IF_DIFFERENT)
  return()
endif()
execute_process(COMMAND diff -u ${DOC} ${WORK}/api.md RESULT_VARIABLE stale)
if(NOT stale EQUAL 0)
  message(FATAL_ERROR "docs/api.md is stale (above: what the contract now says); "
                      "regenerate it with: cmake --build build --target api-doc")
endif()
