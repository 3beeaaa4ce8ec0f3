# Project-wide settings applied to Lattice's own targets (not to third-party code).
function(lattice_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

# Precompiled headers for the heavy, stable headers nearly every file includes (nlohmann/json alone costs
# several seconds per translation unit). `extra` adds more (the tests add GoogleTest).
function(lattice_precompile target)
  target_precompile_headers(${target} PRIVATE
    <nlohmann/json.hpp> <filesystem> <functional> <map> <memory> <string> <vector> ${ARGN})
endfunction()
