# Project-wide settings applied to Lattice's own targets (not to third-party code).
function(lattice_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
  # GCC 12 reports false array-bounds / stringop / restrict errors inside libstdc++'s std::string at -O2
  # (GCC PRs 105329, 105651), depending on string lengths such as the checkout's path. Not our code's
  # warnings, so not errors; every other warning still is.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-array-bounds -Wno-stringop-overflow -Wno-restrict)
  endif()
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

# Precompiled headers for the heavy, stable headers nearly every file includes (nlohmann/json alone costs
# several seconds per translation unit). `extra` adds more (the tests add GoogleTest).
function(lattice_precompile target)
  target_precompile_headers(${target} PRIVATE
    <nlohmann/json.hpp> <filesystem> <functional> <map> <memory> <string> <vector> ${ARGN})
endfunction()
