// What the binding files share: the rule table as Python sees it, buffer
// checks, the overlap check, and the one function that runs a rule over a
// list of tensors with the GIL released. Policy (defaults, state, schedules)
// lives in the Python package; these files only check, release the GIL and call.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "dispatch.hpp"

namespace pyoptim {
namespace bindings {

namespace py = pybind11;

struct RuleInfo {
  const char* name;
  const char* type;  // the C++ struct's name (pyoptim::Adam)
  int n_options;
  const char* const* option_names;
  int n_state;
  const char* const* state_names;
  bool (*uses_state)(const double* options, int state);
  // Scalar state (see rule_scalars in common.hpp): names, the values before a
  // first step, the advance (in double and in float), and whether the step
  // uses the values after the advance (false) or before it (true).
  int n_scalars;
  const char* const* scalar_names;
  void (*initial_scalars)(const double* options, double* scalars);
  void (*advance_f64)(const double* options, std::int64_t step, double* scalars);
  void (*advance_f32)(const double* options, std::int64_t step, float* scalars);
  bool scalars_after;
  // Per-tensor reductions (see reduction.hpp): how many, and their names.
  int n_reductions;
  const char* const* reduction_names;
  // Each state's shape (tensor.hpp), or null: every state shaped like its parameter.
  const StateShape* state_shapes;
  // Whether the rule steps whole tensors (multi_tensor.hpp), and the scratch a step needs.
  bool whole_tensor;
  std::size_t (*scratch_f32)(const TensorRef<float>* tensors, std::size_t count);
  std::size_t (*scratch_f64)(const TensorRef<double>* tensors, std::size_t count);
};

// The shape of state k of `rule` as Python names it: "param", "rows", "cols", "unless_matrix".
const char* state_shape_name(const RuleInfo& rule, int k);

// Whether a parameter of shape `param` keeps state k of `rule`, and the shape
// that state has.
bool state_kept(const RuleInfo& rule, int k, const std::vector<py::ssize_t>& param);
std::vector<py::ssize_t> state_shape(const RuleInfo& rule, int k, const std::vector<py::ssize_t>& param);

// The most scalars any rule keeps per parameter.
constexpr int kMaxScalars = 2;

// Runs update(used) for a step of `rule` with the scalar state `kept`,
// advancing it before or after the update as the rule says (the run-time twin
// of with_scalars in common.hpp). The advance computes in float when
// `advance_in_float` (torch's float32 scalar tensors), else in double; the
// update always uses the values as kept.
template <class Update>
void with_scalars(const RuleInfo& rule, const double* options, std::int64_t step, double* kept,
                  bool advance_in_float, Update&& update) {
  auto advance = [&] {
    if (!advance_in_float) {
      rule.advance_f64(options, step, kept);
      return;
    }
    float narrow[kMaxScalars] = {};
    for (int k = 0; k < rule.n_scalars; ++k) narrow[k] = float(kept[k]);
    rule.advance_f32(options, step, narrow);
    for (int k = 0; k < rule.n_scalars; ++k) kept[k] = double(narrow[k]);
  };
  double used[kMaxScalars] = {};
  if (!rule.scalars_after) advance();
  for (int k = 0; k < rule.n_scalars; ++k) used[k] = kept[k];
  update(static_cast<const double*>(used));
  if (rule.scalars_after) advance();
}

// Every rule, in PYOPTIM_FOR_EACH_RULE order (the kernel table's order).
extern const RuleInfo kRules[kRuleCount];

// Options are read into a fixed buffer of this size (no allocation per step).
constexpr int kMaxOptions = 64;

int rule_index(const std::string& name);
std::string type_name(py::handle obj);

// Names as interned strings: a dict keyed by them (a parameter's torch state) is then
// looked up by identity, without comparing the characters.
py::tuple interned_names(const char* const* names, int n);

// Reads `options` (a sequence of numbers) into out[0, rule.n_options).
void read_options(const RuleInfo& rule, py::handle options, double* out);

enum class DType { f32, f64 };

// A float32/float64 ndarray that the kernels may address as one aligned,
// contiguous block of native-endian values.
py::array checked_array(py::handle obj, const std::string& what, bool writable, DType* dtype);

// A byte range an update reads or writes, and what to call it in an error.
struct Span {
  const char* begin;
  const char* end;
  bool writable;
  std::string what;
};

// Refuses any written span that shares memory with another span (a parameter
// registered twice, a gradient aliasing a state, ...).
void check_no_overlap(std::vector<Span> spans);

// Holds `flag` for a scope; refuses a second holder (two threads stepping
// one optimizer) instead of letting them race on its arrays.
class Exclusive {
 public:
  explicit Exclusive(std::atomic<bool>& flag);
  ~Exclusive() { flag_.store(false); }
  Exclusive(const Exclusive&) = delete;
  Exclusive& operator=(const Exclusive&) = delete;

 private:
  std::atomic<bool>& flag_;
};

// Checks the per-step arguments every plan takes, and returns the clipping.
GradientClip checked_clip(std::int64_t step, double grad_scale, double clip_value);

// One step of rule `rule` over the given tensors, with the GIL released;
// `scalars`: the rule's scalar state advanced to this step (or null).
void run_rule(int rule, const double* options, std::int64_t step, const std::vector<TensorRef<float>>& f32,
              const std::vector<TensorRef<double>>& f64, const GradientClip& clip, const double* scalars);

// (sum of squares, all finite?) of the gradients, with the GIL released;
// `partials` is resized as needed.
py::tuple squares_of(const std::vector<TensorRef<float>>& f32, const std::vector<TensorRef<double>>& f64,
                     std::vector<double>& partials);

// The checks a rule's state needs before a step: every state the options use is present.
void check_states_present(const RuleInfo& rule, const double* options, const bool* has_state, bool any_tensor);

void bind_step_plan(py::module_& m);
void bind_torch_plan(py::module_& m);
void bind_step_rows(py::module_& m);

}  // namespace bindings
}  // namespace pyoptim
