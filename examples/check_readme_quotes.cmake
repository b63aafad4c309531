# Fails if README.md no longer quotes EXAMPLE verbatim (the README section "Test your writer
# with openvss::mocks" shows the file that CTest compiles and runs).
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "${example}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${README} does not quote ${EXAMPLE} verbatim; update the README section")
endif()
