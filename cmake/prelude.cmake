# Included before project(): refuse in-source builds, which would litter the tree with CMake
# files that .gitignore does not cover. Use a preset (`cmake --preset dev`) or `-B build/<name>`.

if(CMAKE_SOURCE_DIR STREQUAL CMAKE_BINARY_DIR)
  message(
    FATAL_ERROR
      "In-source builds are not supported. Configure with a preset, e.g.\n"
      "  cmake --workflow --preset dev\n"
      "or with a separate build directory, e.g.\n"
      "  cmake -S . -B build/mine\n"
      "Remove the CMakeCache.txt and CMakeFiles/ this attempt created first.")
endif()
