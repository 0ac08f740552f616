#pragma once

namespace callgate::app {

// The version (CMakeLists.txt's project version) and the git commit this
// binary was configured from ("unknown" outside a git checkout), from a
// source file CMake generates when it configures.
extern const char* const build_version;
extern const char* const build_commit;

} // namespace callgate::app
