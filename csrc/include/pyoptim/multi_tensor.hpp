// Applies one update rule to a list of tensors in a single call, splitting the
// work among OpenMP threads. Plain C++17, no Python.
#pragma once

#include <algorithm>

#include "common.hpp"
#include "float_mode.hpp"
#include "gradient.hpp"
#include "reduction.hpp"
#include "tensor.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

PYOPTIM_BEGIN_NAMESPACE

// Work is split on cache-line boundaries so threads never share a line.
template <class T>
constexpr std::size_t kSplitGranule = kCacheLine / sizeof(T);

// Elements before `p` reaches a cache-line boundary. Vector loads that straddle
// two lines slow an update markedly once its arrays outgrow L2, and NumPy aligns
// arrays to 16 bytes only; so each pass does these few elements on their own first.
template <class T>
std::size_t elements_to_cache_line(const T* p) {
  return (kCacheLine - reinterpret_cast<std::uintptr_t>(p) % kCacheLine) % kCacheLine / sizeof(T);
}

// Calls apply(t, at, n) over elements [begin, end) of the tensors seen as one
// concatenated range: for tensor t, its elements [at, at + n), in two pieces,
// the elements before the parameter's first cache-line boundary, then the rest.
// The optimizers allocate state at the parameter's offset from a line
// (pyoptim.memory), so the states reach the boundary with it. Each element's
// update depends on that element (and its tensor's sums) alone, so the cut
// changes no bits.
template <class T, class Apply>
void for_each_piece(const TensorRef<T>* tensors, std::size_t count, std::size_t begin, std::size_t end,
                    Apply&& apply) {
  std::size_t offset = 0;  // start of tensor t in the concatenated range
  for (std::size_t t = 0; t < count && offset < end; offset += tensors[t].size, ++t) {
    const TensorRef<T>& x = tensors[t];
    const std::size_t lo = std::max(begin, offset), hi = std::min(end, offset + x.size);
    if (lo >= hi) continue;
    const std::size_t first = lo - offset, last = hi - offset;
    const std::size_t cuts[3] = {first, std::min(last, first + elements_to_cache_line(x.param + first)), last};
    for (int piece = 0; piece < 2; ++piece)
      if (cuts[piece + 1] > cuts[piece]) apply(t, cuts[piece], cuts[piece + 1] - cuts[piece]);
  }
}

// The state pointers of tensor x from element `at` on.
template <class T>
struct StateAt {
  T* state[kMaxState];
  StateAt(const TensorRef<T>& x, std::size_t at) {
    for (int k = 0; k < kMaxState; ++k) state[k] = x.state[k] ? x.state[k] + at : nullptr;
  }
};

// Updates elements [begin, end) of the tensors seen as one concatenated range.
template <class Rule, class T, class Gradient>
void update_range(const typename Rule::template Step<T>& step, const Gradient& gradient,
                  const TensorRef<T>* tensors, std::size_t count, std::size_t begin, std::size_t end) {
  for_each_piece(tensors, count, begin, end, [&](std::size_t t, std::size_t at, std::size_t n) {
    // Local copies in the loop's own scope: the compiler can then prove that no
    // store to the arrays changes a per-step scalar, and keep them in registers.
    const typename Rule::template Step<T> scalars = step;
    const Gradient reader = gradient;
    const TensorRef<T>& x = tensors[t];
    Rule::update(scalars, reader, n, x.param + at, x.grad + at, StateAt<T>(x, at).state);
  });
}

// Rules with per-tensor reductions (reduction.hpp). Pass 1 over blocks
// [first, last) of every tensor's blocks in order: each block's sums go to
// sums[block * N + k].
template <class Rule, class T, class Gradient>
void reduce_blocks(const typename Rule::template Step<T>& step, const Gradient& gradient,
                   const TensorRef<T>* tensors, std::size_t count, std::size_t first, std::size_t last,
                   double* sums) {
  constexpr int N = rule_reductions<Rule>::count;
  const typename Rule::template Step<T> scalars = step;
  const Gradient reader = gradient;
  std::size_t t = 0, before = 0;  // blocks of the tensors before tensor t
  for (std::size_t b = first; b < last; ++b) {
    while (b >= before + reduction_blocks(tensors[t].size)) before += reduction_blocks(tensors[t++].size);
    const TensorRef<T>& x = tensors[t];
    const std::size_t at = (b - before) * kNormBlock, n = std::min(kNormBlock, x.size - at);
    Rule::reduce(scalars, reader, n, x.param + at, x.grad + at, StateAt<T>(x, at).state, sums + b * N);
  }
}

// Pass 2 over elements [begin, end): each tensor's sums (its blocks' in order)
// make its per-tensor step, which its update takes.
template <class Rule, class T, class Gradient>
void update_range_reduced(const typename Rule::template Step<T>& step, const Gradient& gradient,
                          const TensorRef<T>* tensors, std::size_t count, std::size_t begin, std::size_t end,
                          const double* sums) {
  constexpr int N = rule_reductions<Rule>::count;
  std::size_t blocks_before = 0, next = 0;  // blocks of tensors [0, next)
  std::size_t current = count;
  typename Rule::template TensorStep<T> tensor_step{};
  for_each_piece(tensors, count, begin, end, [&](std::size_t t, std::size_t at, std::size_t n) {
    const typename Rule::template Step<T> scalars = step;  // local copies, as in update_range
    const Gradient reader = gradient;
    if (t != current) {
      for (; next < t; ++next) blocks_before += reduction_blocks(tensors[next].size);
      double total[N] = {};
      const std::size_t blocks = reduction_blocks(tensors[t].size);
      for (std::size_t b = 0; b < blocks; ++b)
        for (int k = 0; k < N; ++k) total[k] += sums[(blocks_before + b) * N + std::size_t(k)];
      tensor_step = Rule::tensor_step(scalars, static_cast<const double*>(total));
      current = t;
    }
    const typename Rule::template TensorStep<T> this_tensor = tensor_step;
    const TensorRef<T>& x = tensors[t];
    Rule::update(scalars, this_tensor, reader, n, x.param + at, x.grad + at, StateAt<T>(x, at).state);
  });
}

// Rules that step one whole tensor at a time (Adafactor: its state is shaped by
// the parameter's axes and its passes reduce along them) set `whole_tensor` and
// declare
//   template <class T, class Gradient>
//   static void step_tensor(const Step<T>&, const Gradient&, const TensorRef<T>&, const Team&, double* scratch);
//   template <class T> static std::size_t scratch_doubles(const TensorRef<T>&);
// The driver starts one team per step and hands it each tensor in turn. The rule
// splits its work by fixed shares of the team (Team::begin/end) and waits at
// Team::barrier() between passes (every thread reaches the same barriers); with
// every sum added in a fixed order, its bits depend on neither the thread count
// nor the instruction set.
struct Team {
  std::size_t id, size;
  std::size_t begin(std::size_t n) const { return n * id / size; }
  std::size_t end(std::size_t n) const { return n * (id + 1) / size; }
  void barrier() const {
#ifdef _OPENMP
    if (size > 1) {
#pragma omp barrier
    }
#endif
  }
};

template <class Rule, class = void>
struct whole_tensor_rule : std::false_type {};
template <class Rule>
struct whole_tensor_rule<Rule, std::void_t<decltype(Rule::whole_tensor)>> : std::bool_constant<Rule::whole_tensor> {};

// Doubles of scratch one step of `Rule` over these tensors needs (see step_tensors).
template <class Rule, class T>
std::size_t step_scratch(const TensorRef<T>* tensors, std::size_t count) {
  if constexpr (whole_tensor_rule<Rule>::value) {
    std::size_t most = 0;  // the tensors are stepped in turn, each reusing the scratch
    for (std::size_t t = 0; t < count; ++t) most = std::max(most, Rule::scratch_doubles(tensors[t]));
    return most;
  } else {
    return reduction_scratch(rule_reductions<Rule>::count, tensors, count);
  }
}

template <class Rule, class T, class Gradient>
void step_tensors_with(const double* options, std::int64_t step, const double* rule_scalars_now,
                       const Gradient& gradient, const TensorRef<T>* tensors, std::size_t count, int threads,
                       double* scratch) {
  constexpr bool reduced = rule_reductions<Rule>::count > 0;
  const typename Rule::template Step<T> scalars = make_step<Rule, T>(options, step, rule_scalars_now);
  std::size_t total = 0, blocks = 0;
  for (std::size_t t = 0; t < count; ++t) {
    total += tensors[t].size;
    blocks += reduction_blocks(tensors[t].size);
  }
  // Both passes split the same way among the same threads (pass 1 by blocks,
  // pass 2 by elements); a thread starts pass 2 once every block is summed.
  auto run = [&](std::size_t id, std::size_t team) {
    const std::size_t granules = (total + kSplitGranule<T> - 1) / kSplitGranule<T>;
    const std::size_t begin = std::min(total, granules * id / team * kSplitGranule<T>);
    const std::size_t end = std::min(total, granules * (id + 1) / team * kSplitGranule<T>);
    if constexpr (whole_tensor_rule<Rule>::value) {
      const Team team_of_this_step{id, team};
      for (std::size_t t = 0; t < count; ++t) {
        Rule::step_tensor(scalars, gradient, tensors[t], team_of_this_step, scratch);
        team_of_this_step.barrier();  // the next tensor reuses the scratch
      }
    } else if constexpr (reduced) {
      reduce_blocks<Rule, T>(scalars, gradient, tensors, count, blocks * id / team, blocks * (id + 1) / team,
                             scratch);
#ifdef _OPENMP
      if (team > 1) {
#pragma omp barrier
      }
#endif
      update_range_reduced<Rule, T>(scalars, gradient, tensors, count, begin, end, scratch);
    } else {
      update_range<Rule, T>(scalars, gradient, tensors, count, begin, end);
    }
  };

  const int team = team_size(total, threads);
  const FloatMode mode = FloatMode::for_update();  // every thread computes in the caller's mode
#ifdef _OPENMP
  if (team > 1) {
#pragma omp parallel num_threads(team)
    {
      const FloatMode::Scope in_mode(mode);
      run(std::size_t(omp_get_thread_num()), std::size_t(omp_get_num_threads()));
    }
    return;
  }
#endif
  const FloatMode::Scope in_mode(mode);
  run(0, 1);
}

// One optimizer step of `Rule` over `count` tensors. `options` holds
// Rule::n_options values in Rule::Option order; `step` counts from 1; `clip`
// (scale and clamp each gradient element) is applied within the same pass;
// `scalars` is the rule's scalar state for this step (unused by rules without
// any); `scratch` holds reduction_scratch(Rule::n_reductions, tensors, count)
// doubles, step_scratch<Rule, T>(tensors, count) in all (unused by rules without
// reductions or whole-tensor steps). Each element's update depends
// on that element alone (and on its tensor's sums, which are summed in a fixed
// order), so the result is bit-identical for every thread count.
template <class Rule, class T>
void step_tensors(const double* options, std::int64_t step, const TensorRef<T>* tensors,
                  std::size_t count, int threads, const GradientClip& clip = {},
                  const double* scalars = nullptr, double* scratch = nullptr) {
  if (clip.active())
    step_tensors_with<Rule, T>(options, step, scalars, ClippedGradient<T>(clip), tensors, count, threads, scratch);
  else
    step_tensors_with<Rule, T>(options, step, scalars, RawGradient<T>{}, tensors, count, threads, scratch);
}

PYOPTIM_END_NAMESPACE
