// Shared definitions for the update kernels. Plain C++17, no Python.
//
// A kernel is compiled once per instruction set (see csrc/dispatch): each
// compilation defines PYOPTIM_ISA_NAMESPACE, so the instantiations land in
// distinct namespaces and the linker can never merge an AVX-512 copy into the
// portable path. A C++ user who includes these headers alone gets them in
// pyoptim::generic, reachable as pyoptim::... through the inline namespace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#ifndef PYOPTIM_ISA_NAMESPACE
#define PYOPTIM_ISA_NAMESPACE generic
#endif

#define PYOPTIM_BEGIN_NAMESPACE \
  namespace pyoptim {           \
  inline namespace PYOPTIM_ISA_NAMESPACE {
#define PYOPTIM_END_NAMESPACE \
  }                           \
  }

#if defined(__GNUC__) || defined(__clang__)
#define PYOPTIM_RESTRICT __restrict__
#define PYOPTIM_SIMD _Pragma("omp simd")
#elif defined(_MSC_VER)
#define PYOPTIM_RESTRICT __restrict
#define PYOPTIM_SIMD
#else
#define PYOPTIM_RESTRICT
#define PYOPTIM_SIMD
#endif

PYOPTIM_BEGIN_NAMESPACE

// Calls f(std::bool_constant<b0>{}, std::bool_constant<b1>{}, ...): turns
// per-step flags into template arguments so that each variant of a loop is
// compiled branch-free.
template <class F>
inline void with_flags(F&& f) {
  f();
}
template <class F, class... Rest>
inline void with_flags(F&& f, bool first, Rest... rest) {
  if (first) {
    with_flags([&](auto... flags) { f(std::true_type{}, flags...); }, rest...);
  } else {
    with_flags([&](auto... flags) { f(std::false_type{}, flags...); }, rest...);
  }
}

// Linear interpolation a + w (b - a), evaluated as torch.lerp does (the
// formula switches at w = 0.5 to stay accurate near both ends). `small_w`
// is decided once per step by the caller.
template <class T>
inline T lerp(T a, T b, T w, T w_minus_one, bool small_w) {
  return small_w ? a + w * (b - a) : b + w_minus_one * (b - a);
}

PYOPTIM_END_NAMESPACE
