// The pieces every plan shares (see bindings.hpp).
#include "bindings.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace pyoptim {
namespace bindings {

namespace {

// A rule's scalar state as RuleInfo holds it (nothing for rules without any).
template <class Rule>
struct Scalars {
  static constexpr int count = rule_scalars<Rule>::count;
  static const char* const* names() {
    if constexpr (count > 0) return Rule::scalar_names;
    return nullptr;
  }
  static void initial(const double* options, double* scalars) {
    if constexpr (count > 0) Rule::initial_scalars(options, scalars);
  }
  template <class S>
  static void advance(const double* options, std::int64_t step, S* scalars) {
    if constexpr (count > 0) Rule::template advance_scalars<S>(options, step, scalars);
  }
};

// A rule's per-tensor reductions as RuleInfo holds them.
template <class Rule>
struct Reductions {
  static constexpr int count = rule_reductions<Rule>::count;
  static const char* const* names() {
    if constexpr (count > 0) return Rule::reduction_names;
    return nullptr;
  }
};

}  // namespace

const RuleInfo kRules[kRuleCount] = {
#define PYOPTIM_RULE_INFO(Rule)                                                                              \
  {Rule::name, #Rule, Rule::n_options, Rule::option_names, Rule::n_state, Rule::state_names, &Rule::uses_state,   \
   Scalars<Rule>::count, Scalars<Rule>::names(), &Scalars<Rule>::initial, &Scalars<Rule>::advance<double>,  \
   &Scalars<Rule>::advance<float>, rule_scalars<Rule>::advance_after_update, Reductions<Rule>::count,           \
   Reductions<Rule>::names(), rule_state_shapes<Rule>::get(), whole_tensor_rule<Rule>::value,                  \
   &step_scratch<Rule, float>, &step_scratch<Rule, double>},
    PYOPTIM_FOR_EACH_RULE(PYOPTIM_RULE_INFO)
#undef PYOPTIM_RULE_INFO
};

#define PYOPTIM_SCALARS_FIT(Rule) \
  static_assert(rule_scalars<Rule>::count <= kMaxScalars, "raise kMaxScalars");
PYOPTIM_FOR_EACH_RULE(PYOPTIM_SCALARS_FIT)
#undef PYOPTIM_SCALARS_FIT

#define PYOPTIM_OPTIONS_FIT(Rule) static_assert(Rule::n_options <= kMaxOptions, "raise kMaxOptions");
PYOPTIM_FOR_EACH_RULE(PYOPTIM_OPTIONS_FIT)
#undef PYOPTIM_OPTIONS_FIT

const char* state_shape_name(const RuleInfo& rule, int k) {
  switch (rule.state_shapes ? rule.state_shapes[k] : StateShape::like_param) {
    case StateShape::matrix_rows: return "rows";
    case StateShape::matrix_cols: return "cols";
    case StateShape::unless_matrix: return "unless_matrix";
    default: return "param";
  }
}

bool state_kept(const RuleInfo& rule, int k, const std::vector<py::ssize_t>& param) {
  const StateShape kind = rule.state_shapes ? rule.state_shapes[k] : StateShape::like_param;
  if (kind == StateShape::like_param) return true;
  return (param.size() >= 2) == (kind != StateShape::unless_matrix);
}

std::vector<py::ssize_t> state_shape(const RuleInfo& rule, int k, const std::vector<py::ssize_t>& param) {
  std::vector<py::ssize_t> shape = param;
  const StateShape kind = rule.state_shapes ? rule.state_shapes[k] : StateShape::like_param;
  if (kind == StateShape::matrix_rows) shape[shape.size() - 1] = 1;
  if (kind == StateShape::matrix_cols) shape[shape.size() - 2] = 1;
  return shape;
}

int rule_index(const std::string& name) {
  std::string known;
  for (int r = 0; r < kRuleCount; ++r) {
    if (name == kRules[r].name) return r;
    known += std::string(r ? ", " : "") + "'" + kRules[r].name + "'";
  }
  throw py::value_error("rule: unknown update rule '" + name + "'; expected one of " + known);
}

py::tuple interned_names(const char* const* names, int n) {
  py::tuple out(n);
  for (int k = 0; k < n; ++k) {
    PyObject* name = PyUnicode_InternFromString(names[k]);
    if (!name) throw py::error_already_set();
    out[std::size_t(k)] = py::reinterpret_steal<py::str>(name);
  }
  return out;
}

std::string type_name(py::handle obj) { return py::str(py::type::of(obj).attr("__name__")); }

void read_options(const RuleInfo& rule, py::handle options, double* out) {
  if (!py::isinstance<py::sequence>(options) || py::isinstance<py::str>(options))
    throw py::type_error("options: expected a sequence of numbers, got " + type_name(options));
  auto seq = py::reinterpret_borrow<py::sequence>(options);
  if (int(seq.size()) != rule.n_options)
    throw py::value_error("options: rule '" + std::string(rule.name) + "' takes " +
                          std::to_string(rule.n_options) + " options, got " + std::to_string(seq.size()));
  for (int k = 0; k < rule.n_options; ++k) {
    const double x = PyFloat_AsDouble(seq[k].ptr());
    if (x == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      throw py::type_error("options: '" + std::string(rule.option_names[k]) + "' must be a number, got " +
                           type_name(seq[k]));
    }
    out[k] = x;
  }
}

py::array checked_array(py::handle obj, const std::string& what, bool writable, DType* dtype) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(what + ": expected a numpy.ndarray of float32 or float64, got " +
                         type_name(obj));
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (a.dtype().equal(py::dtype::of<float>()))
    *dtype = DType::f32;
  else if (a.dtype().equal(py::dtype::of<double>()))
    *dtype = DType::f64;
  else
    throw py::type_error(what + ": expected dtype float32 or float64 (native byte order), got " +
                         std::string(py::str(a.dtype())));
  const int flags = a.flags();
  if (!(flags & py::array::c_style) && !(flags & py::array::f_style))
    throw py::value_error(what + ": expected a contiguous array, got strides " +
                          std::string(py::str(a.attr("strides"))) +
                          " (use numpy.ascontiguousarray)");
  if (!(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw py::value_error(what + ": expected an aligned array (element address a multiple of its size)");
  if (writable && !a.writeable()) throw py::value_error(what + ": array is read-only");
  return a;
}

void check_no_overlap(std::vector<Span> spans) {
  spans.erase(std::remove_if(spans.begin(), spans.end(), [](const Span& s) { return s.begin == s.end; }),
              spans.end());
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  const Span* reach_any = nullptr;       // span reaching furthest so far
  const Span* reach_writable = nullptr;  // writable span reaching furthest so far
  for (const Span& s : spans) {
    const Span* clash = nullptr;
    if (s.writable && reach_any && s.begin < reach_any->end) clash = reach_any;
    if (reach_writable && s.begin < reach_writable->end) clash = reach_writable;
    if (clash)
      throw py::value_error(s.what + " and " + clash->what +
                            ": arrays share memory (registered twice, or a view of another "
                            "registered array)");
    if (!reach_any || s.end > reach_any->end) reach_any = &s;
    if (s.writable && (!reach_writable || s.end > reach_writable->end)) reach_writable = &s;
  }
}

Exclusive::Exclusive(std::atomic<bool>& flag) : flag_(flag) {
  bool idle = false;
  if (!flag_.compare_exchange_strong(idle, true))
    throw std::runtime_error("step: this optimizer is already stepping in another thread");
}

GradientClip checked_clip(std::int64_t step, double grad_scale, double clip_value) {
  if (step < 1) throw py::value_error("step: expected a step count >= 1, got " + std::to_string(step));
  if (!(grad_scale >= 0.0) || !std::isfinite(grad_scale))
    throw py::value_error("grad_scale: expected a finite number >= 0, got " + std::to_string(grad_scale));
  if (!(clip_value > 0.0))
    throw py::value_error("clip_value: expected a number > 0 (inf for none), got " + std::to_string(clip_value));
  GradientClip clip;
  clip.scale = grad_scale;
  clip.clip_value = clip_value;
  return clip;
}

void check_states_present(const RuleInfo& rule, const double* options, const bool* has_state, bool any_tensor) {
  for (int k = 0; k < rule.n_state; ++k)
    if (rule.uses_state(options, k) && !has_state[k] && any_tensor)
      throw py::value_error(std::string("options: these options need the state array '") + rule.state_names[k] +
                            "' for every parameter, and some are None");
}

void run_rule(int rule, const double* options, std::int64_t step, const std::vector<TensorRef<float>>& f32,
              const std::vector<TensorRef<double>>& f64, const GradientClip& clip, const double* scalars) {
  // A rule with per-tensor reductions or whole-tensor steps sums into scratch;
  // one buffer per calling thread (plans may step concurrently on different
  // threads), grown as needed.
  thread_local std::vector<double> scratch;
  const std::size_t need = std::max(kRules[rule].scratch_f32(f32.data(), f32.size()),
                                    kRules[rule].scratch_f64(f64.data(), f64.size()));
  if (scratch.size() < need) scratch.resize(need);
  py::gil_scoped_release release;
  const KernelTable& k = active_kernels();
  const int threads = num_threads();
  if (!f32.empty()) k.step_f32[rule](options, step, f32.data(), f32.size(), threads, clip, scalars, scratch.data());
  if (!f64.empty()) k.step_f64[rule](options, step, f64.data(), f64.size(), threads, clip, scalars, scratch.data());
}

py::tuple squares_of(const std::vector<TensorRef<float>>& f32, const std::vector<TensorRef<double>>& f64,
                     std::vector<double>& partials) {
  std::size_t n32 = 0, n64 = 0;
  for (const auto& t : f32) n32 += t.size;
  for (const auto& t : f64) n64 += t.size;
  const std::size_t needed = 2 * norm_blocks(std::max(n32, n64));
  if (partials.size() < needed) partials.resize(needed);
  double s32 = 0.0, fin32 = 0.0, s64 = 0.0, fin64 = 0.0;
  {
    py::gil_scoped_release release;
    const KernelTable& k = active_kernels();
    const int threads = num_threads();
    if (!f32.empty()) k.gradient_squares_f32(f32.data(), f32.size(), threads, partials.data(), &s32, &fin32);
    if (!f64.empty()) k.gradient_squares_f64(f64.data(), f64.size(), threads, partials.data(), &s64, &fin64);
  }
  return py::make_tuple(s32 + s64, fin32 + fin64 == 0.0);
}

}  // namespace bindings
}  // namespace pyoptim
