// pybind11 bindings: check buffers, release the GIL, call the kernels.
// Policy (defaults, state, schedules) lives in the Python package.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <pyoptim/nn/softmax_cross_entropy.hpp>

#include "dispatch.hpp"

namespace py = pybind11;

namespace pyoptim {
namespace {

struct RuleInfo {
  const char* name;
  int n_options;
  const char* const* option_names;
  int n_state;
  const char* const* state_names;
  bool (*uses_state)(const double* options, int state);
};

const RuleInfo kRules[kRuleCount] = {
#define PYOPTIM_RULE_INFO(Rule) \
  {Rule::name, Rule::n_options, Rule::option_names, Rule::n_state, Rule::state_names, &Rule::uses_state},
    PYOPTIM_FOR_EACH_RULE(PYOPTIM_RULE_INFO)
#undef PYOPTIM_RULE_INFO
};

// Options are read into a fixed buffer of this size (no allocation per step).
constexpr int kMaxOptions = 64;
#define PYOPTIM_OPTIONS_FIT(Rule) static_assert(Rule::n_options <= kMaxOptions, "raise kMaxOptions");
PYOPTIM_FOR_EACH_RULE(PYOPTIM_OPTIONS_FIT)
#undef PYOPTIM_OPTIONS_FIT

int rule_index(const std::string& name) {
  std::string known;
  for (int r = 0; r < kRuleCount; ++r) {
    if (name == kRules[r].name) return r;
    known += std::string(r ? ", " : "") + "'" + kRules[r].name + "'";
  }
  throw py::value_error("rule: unknown update rule '" + name + "'; expected one of " + known);
}

std::string type_name(py::handle obj) { return py::str(py::type::of(obj).attr("__name__")); }

enum class DType { f32, f64 };

// A float32/float64 ndarray that the kernels may address as one aligned,
// contiguous block of native-endian values.
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

struct Span {
  const char* begin;
  const char* end;
  bool writable;
  std::string what;
};

// Refuses any written array that shares memory with another array of the
// update (a parameter registered twice, a gradient aliasing a state, ...).
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

// Holds `flag` for a scope; refuses a second holder (two threads stepping
// one optimizer) instead of letting them race on its arrays.
class Exclusive {
 public:
  explicit Exclusive(std::atomic<bool>& flag) : flag_(flag) {
    bool idle = false;
    if (!flag_.compare_exchange_strong(idle, true))
      throw std::runtime_error("step: this optimizer is already stepping in another thread");
  }
  ~Exclusive() { flag_.store(false); }
  Exclusive(const Exclusive&) = delete;
  Exclusive& operator=(const Exclusive&) = delete;

 private:
  std::atomic<bool>& flag_;
};

// A rule bound to a fixed list of parameters: checked once, stepped many times.
class StepPlan {
 public:
  StepPlan(const std::string& rule_name, py::sequence tensors) : rule_(rule_index(rule_name)) {
    const RuleInfo& rule = kRules[rule_];
    std::vector<Span> spans;
    for (int k = 0; k < rule.n_state; ++k) has_state_[k] = true;
    const std::size_t count = tensors.size();
    for (std::size_t t = 0; t < count; ++t) {
      const std::string index = "[" + std::to_string(t) + "]";
      py::handle item = tensors[t];
      if (!py::isinstance<py::tuple>(item) || py::len(item) != std::size_t(2 + rule.n_state))
        throw py::type_error("tensors" + index + ": expected a tuple (param, grad, " +
                             std::to_string(rule.n_state) + " state arrays or None)");
      auto parts = py::reinterpret_borrow<py::tuple>(item);
      DType dtype, other;
      py::array param = checked_array(parts[0], "param" + index, true, &dtype);
      py::array grad = checked_array(parts[1], "grad" + index, false, &other);
      check_partner(param, grad, dtype, other, "grad" + index, "param" + index);
      add_span(spans, param, true, "param" + index);
      add_span(spans, grad, false, "grad" + index);
      void* state[kMaxState] = {};
      for (int k = 0; k < rule.n_state; ++k) {
        const std::string what = std::string(rule.state_names[k]) + index;
        py::handle s = parts[2 + k];
        if (s.is_none()) {
          has_state_[k] = false;
          continue;
        }
        py::array a = checked_array(s, what, true, &other);
        check_partner(param, a, dtype, other, what, "param" + index);
        add_span(spans, a, true, what);
        state[k] = a.mutable_data();
        keep_.push_back(a);
      }
      keep_.push_back(param);
      keep_.push_back(grad);
      const std::size_t n = std::size_t(param.size());
      if (dtype == DType::f32)
        f32_.push_back(make_ref<float>(param, grad, state, n));
      else
        f64_.push_back(make_ref<double>(param, grad, state, n));
    }
    check_no_overlap(std::move(spans));
    std::size_t n32 = 0, n64 = 0;
    for (const auto& t : f32_) n32 += t.size;
    for (const auto& t : f64_) n64 += t.size;
    partials_.resize(2 * norm_blocks(std::max(n32, n64)));
  }

  void step(py::handle options, std::int64_t step, double grad_scale, double clip_value) {
    const RuleInfo& rule = kRules[rule_];
    double opts[kMaxOptions];
    read_options(rule, options, opts);
    if (step < 1) throw py::value_error("step: expected a step count >= 1, got " + std::to_string(step));
    if (!(grad_scale >= 0.0) || !std::isfinite(grad_scale))
      throw py::value_error("grad_scale: expected a finite number >= 0, got " + std::to_string(grad_scale));
    if (!(clip_value > 0.0))
      throw py::value_error("clip_value: expected a number > 0 (inf for none), got " + std::to_string(clip_value));
    GradientClip clip;
    clip.scale = grad_scale;
    clip.clip_value = clip_value;
    for (int k = 0; k < rule.n_state; ++k)
      if (rule.uses_state(opts, k) && !has_state_[k] && (f32_.size() + f64_.size()) > 0)
        throw py::value_error(std::string("options: these options need the state array '") +
                              rule.state_names[k] + "' for every parameter, and some are None");
    Exclusive running(busy_);
    py::gil_scoped_release release;
    const KernelTable& k = active_kernels();
    const int threads = num_threads();
    if (!f32_.empty()) k.step_f32[rule_](opts, step, f32_.data(), f32_.size(), threads, clip);
    if (!f64_.empty()) k.step_f64[rule_](opts, step, f64_.data(), f64_.size(), threads, clip);
  }

  // (sum of squares of every gradient element, whether all are finite), by a
  // reduction whose bits do not depend on the thread count.
  py::tuple gradient_squares() {
    double squares = 0.0, finite = 0.0;
    {
      Exclusive running(busy_);
      py::gil_scoped_release release;
      const KernelTable& k = active_kernels();
      const int threads = num_threads();
      double s32 = 0.0, f32 = 0.0, s64 = 0.0, f64 = 0.0;
      if (!f32_.empty()) k.gradient_squares_f32(f32_.data(), f32_.size(), threads, partials_.data(), &s32, &f32);
      if (!f64_.empty()) k.gradient_squares_f64(f64_.data(), f64_.size(), threads, partials_.data(), &s64, &f64);
      squares = s32 + s64;
      finite = f32 + f64;
    }
    return py::make_tuple(squares, finite == 0.0);
  }

  std::size_t size() const { return f32_.size() + f64_.size(); }

 private:
  static void check_partner(const py::array& param, const py::array& a, DType dtype, DType other,
                            const std::string& what, const std::string& param_what) {
    if (other != dtype)
      throw py::type_error(what + ": dtype " + std::string(py::str(a.dtype())) + " does not match " +
                           param_what + "'s dtype " + std::string(py::str(param.dtype())));
    bool same_shape = a.ndim() == param.ndim();
    for (py::ssize_t d = 0; same_shape && d < a.ndim(); ++d) same_shape = a.shape(d) == param.shape(d);
    if (!same_shape)
      throw py::value_error(what + ": shape " + std::string(py::str(a.attr("shape"))) + " does not match " +
                            param_what + "'s shape " + std::string(py::str(param.attr("shape"))));
    const int layout = py::array::c_style | py::array::f_style;
    const bool same_layout = (a.flags() & param.flags() & layout) != 0;
    if (!same_layout)
      throw py::value_error(what + ": memory order (C or Fortran) does not match " + param_what + "'s");
  }

  static void add_span(std::vector<Span>& spans, const py::array& a, bool writable, const std::string& what) {
    const char* begin = static_cast<const char*>(a.data());
    spans.push_back({begin, begin + a.nbytes(), writable, what});
  }

  template <class T>
  static TensorRef<T> make_ref(py::array& param, py::array& grad, void* const* state, std::size_t n) {
    TensorRef<T> ref{};
    ref.param = static_cast<T*>(param.mutable_data());
    ref.grad = static_cast<const T*>(grad.data());
    for (int k = 0; k < kMaxState; ++k) ref.state[k] = static_cast<T*>(state[k]);
    ref.size = n;
    return ref;
  }

  int rule_;
  bool has_state_[kMaxState] = {};
  std::vector<py::array> keep_;
  std::vector<TensorRef<float>> f32_;
  std::vector<TensorRef<double>> f64_;
  std::vector<double> partials_;  // scratch of the norm reduction, sized once
  std::atomic<bool> busy_{false};
};

template <class T, class Label>
py::tuple cross_entropy_typed(const py::array& logits, const py::array& labels, py::handle grad, std::size_t n,
                              std::size_t k) {
  T* grad_data = nullptr;
  if (!grad.is_none()) grad_data = static_cast<T*>(py::reinterpret_borrow<py::array>(grad).mutable_data());
  const T* z = static_cast<const T*>(logits.data());
  const Label* y = static_cast<const Label*>(labels.data());
  nn::CrossEntropyResult r;
  {
    py::gil_scoped_release release;
    r = nn::softmax_cross_entropy<T, Label>(z, y, n, k, grad_data, T(1) / T(n));
  }
  return py::make_tuple(r.loss_sum / double(n), r.correct);
}

// (mean loss, correct count); writes the gradient of the mean loss into `grad`.
py::tuple softmax_cross_entropy(py::handle logits_obj, py::handle labels_obj, py::handle grad_obj) {
  DType dtype, other;
  py::array logits = checked_array(logits_obj, "logits", false, &dtype);
  if (logits.ndim() != 2 || !(logits.flags() & py::array::c_style) || logits.shape(0) < 1 || logits.shape(1) < 1)
    throw py::value_error("logits: expected a non-empty C-contiguous (n, k) array");
  const std::size_t n = std::size_t(logits.shape(0)), k = std::size_t(logits.shape(1));
  if (!py::isinstance<py::array>(labels_obj))
    throw py::type_error("labels: expected a numpy.ndarray of int64, got " + type_name(labels_obj));
  auto labels = py::reinterpret_borrow<py::array>(labels_obj);
  if (!labels.dtype().equal(py::dtype::of<std::int64_t>()) || labels.ndim() != 1 ||
      std::size_t(labels.shape(0)) != n || !(labels.flags() & py::array::c_style))
    throw py::type_error("labels: expected a contiguous int64 array of shape (" + std::to_string(n) + ",)");
  const std::int64_t* y = static_cast<const std::int64_t*>(labels.data());
  for (std::size_t r = 0; r < n; ++r)
    if (y[r] < 0 || std::size_t(y[r]) >= k)
      throw py::value_error("labels: expected class labels in [0, " + std::to_string(k) + "), got " +
                            std::to_string(y[r]));
  if (!grad_obj.is_none()) {
    py::array grad = checked_array(grad_obj, "grad", true, &other);
    if (other != dtype || grad.ndim() != 2 || grad.shape(0) != logits.shape(0) || grad.shape(1) != logits.shape(1) ||
        !(grad.flags() & py::array::c_style))
      throw py::value_error("grad: expected a C-contiguous array of the logits' shape and dtype");
    if (grad.data() == logits.data()) throw py::value_error("grad: must not be the logits array itself");
  }
  if (dtype == DType::f32) return cross_entropy_typed<float, std::int64_t>(logits, labels, grad_obj, n, k);
  return cross_entropy_typed<double, std::int64_t>(logits, labels, grad_obj, n, k);
}

py::dict simd_info() {
  py::dict info;
  info["active"] = active_kernels().isa;
  py::list compiled, supported;
  for (const KernelTable* t : compiled_kernels()) {
    compiled.append(t->isa);
    if (cpu_supports(t->isa)) supported.append(t->isa);
  }
  info["compiled"] = compiled;
  info["supported"] = supported;
#ifdef _OPENMP
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
  return info;
}

}  // namespace
}  // namespace pyoptim

PYBIND11_MODULE(_core, m) {
  using namespace pyoptim;
  m.doc() = "pyoptim's compiled kernels. Use the pyoptim package, not this module.";

  py::dict rules;
  for (const RuleInfo& r : kRules) {
    py::dict info;
    info["options"] = py::tuple(py::cast(std::vector<std::string>(r.option_names, r.option_names + r.n_options)));
    info["state"] = py::tuple(py::cast(std::vector<std::string>(r.state_names, r.state_names + r.n_state)));
    rules[r.name] = info;
  }
  m.attr("RULES") = rules;
  m.attr("MAX_STATE") = kMaxState;
  py::dict build;
#if defined(__clang__)
  build["compiler"] = "clang " __clang_version__;
#elif defined(__GNUC__)
  build["compiler"] = "gcc " __VERSION__;
#elif defined(_MSC_VER)
  build["compiler"] = "msvc " + std::to_string(_MSC_VER);
#endif
#ifdef _OPENMP
  build["openmp"] = _OPENMP;
#else
  build["openmp"] = py::none();
#endif
#ifdef PYOPTIM_SANITIZED
  build["sanitized"] = true;
#else
  build["sanitized"] = false;
#endif
  m.attr("BUILD") = build;

  m.def("states_used", [](const std::string& rule_name, py::handle options) {
        const RuleInfo& rule = kRules[rule_index(rule_name)];
        double opts[kMaxOptions];
        read_options(rule, options, opts);
        py::list used;
        for (int k = 0; k < rule.n_state; ++k) used.append(rule.uses_state(opts, k));
        return py::tuple(used);
      },
      py::arg("rule"), py::arg("options"),
      "For each state array of `rule`, whether `options` make the update use it.");

  py::class_<StepPlan>(m, "StepPlan",
                       "An update rule bound to a list of (param, grad, *state) tuples, checked once.")
      .def(py::init<const std::string&, py::sequence>(), py::arg("rule"), py::arg("tensors"))
      .def("step", &StepPlan::step, py::arg("options"), py::arg("step"), py::arg("grad_scale") = 1.0,
           py::arg("clip_value") = std::numeric_limits<double>::infinity(),
           "Updates every tensor in place, reading each gradient element as\n"
           "clamp(grad * grad_scale, -clip_value, clip_value); releases the GIL.")
      .def("gradient_squares", &StepPlan::gradient_squares,
           "(sum of squared gradient elements, all finite?), independent of the thread count.")
      .def("__len__", &StepPlan::size);

  m.def("softmax_cross_entropy", &softmax_cross_entropy, py::arg("logits"), py::arg("labels"),
        py::arg("grad") = py::none(),
        "(mean softmax cross-entropy, number of correct argmax predictions) of (n, k) logits\n"
        "against int64 labels; writes the mean loss's gradient into `grad` when given.");
  m.def("simd_info", &simd_info, "Which instruction-set build runs, and which are available.");
  m.def("select_simd",
        [](const std::string& limit) {
          try {
            return std::string(select_kernels(limit).isa);
          } catch (const std::invalid_argument&) {
            std::string known;
            for (const KernelTable* t : compiled_kernels()) known += std::string(known.empty() ? "" : ", ") + t->isa;
            throw py::value_error("simd: unknown instruction set '" + limit + "'; expected one of " + known);
          }
        },
        py::arg("limit"),
        "Uses the fastest supported build no faster than `limit` ('' for the fastest); returns its name.");
  m.def("get_num_threads", &num_threads);
  m.def("set_num_threads", [](int n) {
        if (n < 1) throw py::value_error("threads: expected an integer >= 1, got " + std::to_string(n));
        set_num_threads(n);
      },
      py::arg("threads"));
}
