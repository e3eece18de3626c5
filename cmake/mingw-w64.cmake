# Toolchain file: the Windows build (IOCP backend) cross-compiled on Linux with Debian's
# mingw-w64 (posix threads), the tests run under wine through tools/wine_run.sh:
#   cmake -S . -B build-mingw --toolchain cmake/mingw-w64.cmake -DNETPOLL_BUILD_TESTS=ON
# The same compiler and static linking as the Bazel --config=mingw build (toolchain/mingw/).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# doctest is header-only: its host package config serves the cross build too.
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# No mingw runtime DLLs to find at run time.
set(CMAKE_EXE_LINKER_FLAGS_INIT -static)
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/../tools/wine_run.sh)
