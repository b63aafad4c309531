# The bench.abort_quick CTest test (cmake -P): runs the harness's quick mode, then checks that
# the JSON it wrote has the shape of issue 4: "results" (latency percentiles, with the --runs
# spread fields), "memory" and "throughput" (both non-empty when machine.modes names them).
# Speed is never checked.
#
#   cmake -DOPENVSS_BENCH=<openvss-bench-abort> -DOPENVSS_BENCH_JSON=<out.json>
#         [-DOPENVSS_BENCH_ARGS=<arg;arg;...>] [-DOPENVSS_EXPECT_BURST_PROVIDER=<value>]
#         [-DOPENVSS_EXPECT_ENGINE_SAMPLES=<n> -DOPENVSS_EXPECT_ENGINE_ROWS=<rows>]
#         -P bench/check_bench_json.cmake
#
# With OPENVSS_BENCH_ARGS the harness runs with those arguments instead of --quick, and the run
# must also have counted no anomaly (no failed setup, and every abort left all its stamps, the
# provider's included). With OPENVSS_EXPECT_BURST_PROVIDER, machine.burst_provider must be it.
# With OPENVSS_EXPECT_ENGINE_SAMPLES, the run must have been uncapped (machine.budget_s_per_cell
# "none"), every openvss latency row must hold at least that many samples per run (rows sum
# their runs), and there must be exactly OPENVSS_EXPECT_ENGINE_ROWS of them, so that a cell
# that measured nothing, and so wrote no row, fails too: the full run's promise.

cmake_minimum_required(VERSION 3.25) # policies: IN_LIST, string(JSON)

foreach(_var IN ITEMS OPENVSS_BENCH OPENVSS_BENCH_JSON)
  if(NOT ${_var})
    message(FATAL_ERROR "check_bench_json.cmake: ${_var} is not set")
  endif()
endforeach()

if(OPENVSS_EXPECT_ENGINE_SAMPLES)
  foreach(_var IN ITEMS OPENVSS_EXPECT_ENGINE_SAMPLES OPENVSS_EXPECT_ENGINE_ROWS)
    if(NOT "${${_var}}" MATCHES "^[1-9][0-9]*$")
      message(FATAL_ERROR "check_bench_json.cmake: ${_var} must be a positive integer, got "
                          "'${${_var}}'")
    endif()
  endforeach()
endif()

file(REMOVE "${OPENVSS_BENCH_JSON}")
if(NOT OPENVSS_BENCH_ARGS)
  set(_args --quick)
else()
  set(_args ${OPENVSS_BENCH_ARGS})
endif()
execute_process(COMMAND "${OPENVSS_BENCH}" ${_args} --json "${OPENVSS_BENCH_JSON}"
                RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  list(JOIN _args " " _shown)
  message(FATAL_ERROR "openvss-bench-abort ${_shown} exited with ${_rc}")
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
foreach(_key IN ITEMS cpu_model cores kernel compiler build_flags allocator modes runs
                      pin_io_threads writer_groups burst_provider memory_latency_ns_start
                      memory_latency_ns_end transparent_hugepage)
  string(JSON _v ERROR_VARIABLE _err GET "${_json}" machine ${_key})
  if(_err)
    message(FATAL_ERROR "JSON: machine.${_key} missing (${_err})")
  endif()
endforeach()

# The memory-latency profile (bench/memory_latency.hpp): every size, each a positive number.
foreach(_key IN ITEMS memory_latency_ns_start memory_latency_ns_end)
  string(JSON _v GET "${_json}" machine ${_key})
  if(NOT _v MATCHES "^256KiB=[0-9]+\\.[0-9] 2MiB=[0-9]+\\.[0-9] 8MiB=[0-9]+\\.[0-9] 32MiB=[0-9]+\\.[0-9]$")
    message(FATAL_ERROR "JSON: machine.${_key} is not a memory-latency profile: '${_v}'")
  endif()
endforeach()

string(JSON _modes GET "${_json}" machine modes)
string(REPLACE "," ";" _modes "${_modes}")
if(OPENVSS_EXPECT_ENGINE_SAMPLES)
  string(JSON _runs GET "${_json}" machine runs)
  math(EXPR _engine_samples_min "${OPENVSS_EXPECT_ENGINE_SAMPLES} * ${_runs}")
  set(_engine_rows 0)
endif()

string(JSON _n ERROR_VARIABLE _err LENGTH "${_json}" results)
if(_err)
  message(FATAL_ERROR "JSON: \"results\" missing (${_err})")
endif()
if(_n EQUAL 0 AND ("latency" IN_LIST _modes OR "throughput" IN_LIST _modes))
  message(FATAL_ERROR "JSON: \"results\" is empty")
endif()

set(_systems_seen "")
math(EXPR _last "${_n} - 1")
foreach(_i RANGE 0 ${_last})
  if(_n EQUAL 0)
    break()
  endif()
  foreach(_key IN ITEMS system metric phase behaviour)
    string(JSON _type ERROR_VARIABLE _err TYPE "${_json}" results ${_i} ${_key})
    if(_err OR NOT _type STREQUAL "STRING")
      message(FATAL_ERROR "JSON: results[${_i}].${_key} is not a string (${_err})")
    endif()
  endforeach()
  foreach(_key IN ITEMS writers sessions io_threads samples p50_us p99_us p999_us max_us runs
                       p50_us_min p50_us_max p99_us_min p99_us_max)
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
  string(JSON _metric GET "${_json}" results ${_i} metric)
  # Throughput's t_backup rows count what fitted in its time, not --samples.
  if(OPENVSS_EXPECT_ENGINE_SAMPLES AND _system STREQUAL "openvss" AND NOT _metric STREQUAL
                                                                       "t_backup")
    math(EXPR _engine_rows "${_engine_rows} + 1")
    string(JSON _samples GET "${_json}" results ${_i} samples)
    if(_samples LESS _engine_samples_min)
      string(JSON _row GET "${_json}" results ${_i})
      message(FATAL_ERROR "JSON: an openvss row has ${_samples} samples, fewer than the "
                          "${_engine_samples_min} asked for: ${_row}")
    endif()
  endif()
endforeach()
if(OPENVSS_EXPECT_ENGINE_SAMPLES)
  string(JSON _budget GET "${_json}" machine budget_s_per_cell)
  if(NOT _budget STREQUAL "none")
    message(FATAL_ERROR "JSON: machine.budget_s_per_cell = ${_budget}, expected none")
  endif()
  if(NOT _engine_rows EQUAL OPENVSS_EXPECT_ENGINE_ROWS)
    message(FATAL_ERROR "JSON: ${_engine_rows} openvss latency rows, expected "
                        "${OPENVSS_EXPECT_ENGINE_ROWS}: a cell measured nothing")
  endif()
endif()

foreach(_system IN ITEMS openvss floor)
  if("latency" IN_LIST _modes AND NOT _system IN_LIST _systems_seen)
    message(FATAL_ERROR "JSON: no result of system '${_system}'")
  endif()
endforeach()

# "memory" and "throughput": arrays of rows with the given string and number keys; non-empty
# when the run's modes include them. Memory values are differences and may be negative.
function(check_rows _array _strings _numbers _signed)
  string(JSON _type ERROR_VARIABLE _err TYPE "${_json}" ${_array})
  if(_err OR NOT _type STREQUAL "ARRAY")
    message(FATAL_ERROR "JSON: \"${_array}\" is not an array (${_err})")
  endif()
  string(JSON _len LENGTH "${_json}" ${_array})
  if(_array IN_LIST _modes AND _len EQUAL 0)
    message(FATAL_ERROR "JSON: \"${_array}\" is empty although the run measured it")
  endif()
  set(_seen "" PARENT_SCOPE)
  if(_len EQUAL 0)
    return()
  endif()
  set(_seen "")
  math(EXPR _end "${_len} - 1")
  foreach(_i RANGE ${_end})
    foreach(_key IN LISTS _strings)
      string(JSON _type ERROR_VARIABLE _err TYPE "${_json}" ${_array} ${_i} ${_key})
      if(_err OR NOT _type STREQUAL "STRING")
        message(FATAL_ERROR "JSON: ${_array}[${_i}].${_key} is not a string (${_err})")
      endif()
    endforeach()
    foreach(_key IN LISTS _numbers)
      string(JSON _type ERROR_VARIABLE _err TYPE "${_json}" ${_array} ${_i} ${_key})
      if(_err OR NOT _type STREQUAL "NUMBER")
        message(FATAL_ERROR "JSON: ${_array}[${_i}].${_key} is not a number (${_err})")
      endif()
      string(JSON _v GET "${_json}" ${_array} ${_i} ${_key})
      if(NOT _v MATCHES "^${_signed}[0-9]+(\\.[0-9]+)?$")
        message(FATAL_ERROR "JSON: ${_array}[${_i}].${_key} = ${_v} is not a finite number")
      endif()
    endforeach()
    string(JSON _metric GET "${_json}" ${_array} ${_i} metric)
    list(APPEND _seen "${_metric}")
  endforeach()
  set(_seen "${_seen}" PARENT_SCOPE)
endfunction()

check_rows(memory "scenario;metric;unit;method" "writers;sessions;io_threads;value" "-?")
if("memory" IN_LIST _modes AND NOT "peak_rss_bytes" IN_LIST _seen)
  message(FATAL_ERROR "JSON: memory has no peak_rss_bytes row")
endif()
string(JSON _n_memory LENGTH "${_json}" memory)
check_rows(
  throughput "system;metric"
  "writers;sessions;io_threads;runs;value;value_min;value_max;backups;failures;seconds" "")
if("throughput" IN_LIST _modes AND NOT "backups_per_s" IN_LIST _seen)
  message(FATAL_ERROR "JSON: throughput has no backups_per_s row")
endif()
string(JSON _n_throughput LENGTH "${_json}" throughput)
if(OPENVSS_BENCH_ARGS)
  string(JSON _anomalies ERROR_VARIABLE _err GET "${_json}" anomalies)
  if(_err OR NOT _anomalies EQUAL 0)
    message(FATAL_ERROR "JSON: anomalies = ${_anomalies} (${_err}): a setup failed or an abort "
                        "left a stamp missing")
  endif()
endif()
if(OPENVSS_EXPECT_BURST_PROVIDER)
  string(JSON _provider GET "${_json}" machine burst_provider)
  if(NOT _provider STREQUAL OPENVSS_EXPECT_BURST_PROVIDER)
    message(FATAL_ERROR "JSON: machine.burst_provider = ${_provider}, expected "
                        "${OPENVSS_EXPECT_BURST_PROVIDER}")
  endif()
endif()
message(STATUS "bench JSON ok: ${_n} results, ${_n_memory} memory rows, ${_n_throughput} "
               "throughput rows in ${OPENVSS_BENCH_JSON}")
