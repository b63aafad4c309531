# The bench.abort_quick CTest test (cmake -P): runs the harness's quick mode, then checks that
# the JSON it wrote has the shape of issue 4. Speed is never checked.
#
#   cmake -DOPENVSS_BENCH=<openvss-bench-abort> -DOPENVSS_BENCH_JSON=<out.json>
#         -P bench/check_bench_json.cmake

cmake_minimum_required(VERSION 3.25) # policies: IN_LIST, string(JSON)

foreach(_var IN ITEMS OPENVSS_BENCH OPENVSS_BENCH_JSON)
  if(NOT ${_var})
    message(FATAL_ERROR "check_bench_json.cmake: ${_var} is not set")
  endif()
endforeach()

file(REMOVE "${OPENVSS_BENCH_JSON}")
execute_process(COMMAND "${OPENVSS_BENCH}" --quick --json "${OPENVSS_BENCH_JSON}"
                RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "openvss-bench-abort --quick exited with ${_rc}")
endif()
if(NOT EXISTS "${OPENVSS_BENCH_JSON}")
  message(FATAL_ERROR "openvss-bench-abort wrote no ${OPENVSS_BENCH_JSON}")
endif()

file(READ "${OPENVSS_BENCH_JSON}" _json)
# string(JSON) fails on anything that is not valid JSON (NaN and Inf included).
string(JSON _machine_type ERROR_VARIABLE _err TYPE "${_json}" machine)
if(_err OR NOT _machine_type STREQUAL "OBJECT")
  message(FATAL_ERROR "JSON: no \"machine\" object (${_err})")
endif()
foreach(_key IN ITEMS cpu_model cores kernel compiler)
  string(JSON _v ERROR_VARIABLE _err GET "${_json}" machine ${_key})
  if(_err)
    message(FATAL_ERROR "JSON: machine.${_key} missing (${_err})")
  endif()
endforeach()

string(JSON _n ERROR_VARIABLE _err LENGTH "${_json}" results)
if(_err OR _n EQUAL 0)
  message(FATAL_ERROR "JSON: \"results\" missing or empty (${_err})")
endif()

set(_systems_seen "")
math(EXPR _last "${_n} - 1")
foreach(_i RANGE ${_last})
  foreach(_key IN ITEMS system metric phase behaviour)
    string(JSON _type ERROR_VARIABLE _err TYPE "${_json}" results ${_i} ${_key})
    if(_err OR NOT _type STREQUAL "STRING")
      message(FATAL_ERROR "JSON: results[${_i}].${_key} is not a string (${_err})")
    endif()
  endforeach()
  foreach(_key IN ITEMS writers sessions io_threads samples p50_us p99_us p999_us max_us)
    string(JSON _type ERROR_VARIABLE _err TYPE "${_json}" results ${_i} ${_key})
    if(_err OR NOT _type STREQUAL "NUMBER")
      message(FATAL_ERROR "JSON: results[${_i}].${_key} is not a number (${_err})")
    endif()
    string(JSON _v GET "${_json}" results ${_i} ${_key})
    if(NOT _v MATCHES "^[0-9]+(\\.[0-9]+)?$")
      message(FATAL_ERROR "JSON: results[${_i}].${_key} = ${_v} is not a finite number >= 0")
    endif()
  endforeach()
  string(JSON _system GET "${_json}" results ${_i} system)
  list(APPEND _systems_seen "${_system}")
endforeach()

foreach(_system IN ITEMS openvss floor)
  if(NOT _system IN_LIST _systems_seen)
    message(FATAL_ERROR "JSON: no result of system '${_system}'")
  endif()
endforeach()
message(STATUS "bench JSON ok: ${_n} results in ${OPENVSS_BENCH_JSON}")
