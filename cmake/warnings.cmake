# Warning flags for every openvss target (library, mocks, tests, examples, bench).
#
# Directory-scoped, so they reach every subdirectory added after this file is included, and only
# openvss's own targets: a parent project that add_subdirectory()s openvss keeps its own flags
# (unless it asks for OPENVSS_WARNINGS_AS_ERRORS). Third-party headers (Asio, Boost, GoogleTest,
# Benchmark) are SYSTEM includes, so these flags apply to our code only.
#
# -Werror goes through CMake's COMPILE_WARNING_AS_ERROR (CMake >= 3.24), so a developer can turn
# it off for one build with `cmake --preset dev --compile-no-warning-as-error`.
# -Wpedantic is deliberately absent: Asio and Boost are not pedantic-clean.

# -Wno-missing-field-initializers: g++ 12 warns on every designated initializer that omits a
# member, which is how our option and identity aggregates are meant to be written
# (docs/decisions.md §12).
set(OPENVSS_WARNING_FLAGS -Wall -Wextra -Wshadow -Wno-missing-field-initializers)

if(PROJECT_IS_TOP_LEVEL OR OPENVSS_WARNINGS_AS_ERRORS)
  if(CMAKE_CXX_COMPILER_ID MATCHES "^(GNU|Clang|AppleClang)$")
    add_compile_options(${OPENVSS_WARNING_FLAGS})
  endif()
endif()

if(OPENVSS_WARNINGS_AS_ERRORS)
  set(CMAKE_COMPILE_WARNING_AS_ERROR ON)
endif()
