#include "dsl/describe.hpp"

#include <sstream>

namespace ember::dsl {

const char* fn_name(Fn f) {
  switch (f) {
    case Fn::Neg:
      return "neg";
    case Fn::Exp:
      return "exp";
    case Fn::Log:
      return "log";
    case Fn::Log1p:
      return "log1p";
    case Fn::Expm1:
      return "expm1";
    case Fn::Sqrt:
      return "sqrt";
    case Fn::Rsqrt:
      return "rsqrt";
    case Fn::Abs:
      return "abs";
    case Fn::Sign:
      return "sign";
    case Fn::Sin:
      return "sin";
    case Fn::Cos:
      return "cos";
    case Fn::Tanh:
      return "tanh";
    case Fn::Sigmoid:
      return "sigmoid";
    case Fn::Erf:
      return "erf";
    case Fn::Add:
      return "add";
    case Fn::Sub:
      return "sub";
    case Fn::Mul:
      return "mul";
    case Fn::Div:
      return "div";
    case Fn::Pow:
      return "pow";
    case Fn::Min:
      return "min";
    case Fn::Max:
      return "max";
    case Fn::Lt:
      return "lt";
    case Fn::Le:
      return "le";
    case Fn::Gt:
      return "gt";
    case Fn::Ge:
      return "ge";
    case Fn::Eq:
      return "eq";
    case Fn::Ne:
      return "ne";
    case Fn::Where:
      return "where";
  }
  return "?";
}

std::string ExprTree::to_string() const {
  std::ostringstream os;
  switch (kind) {
    case Kind::Var:
      os << 'x' << var;
      break;
    case Kind::Const:
      os << value;
      break;
    case Kind::Apply:
      os << fn_name(fn) << '(';
      for (size_t i = 0; i < args.size(); ++i) os << (i ? ", " : "") << args[i].to_string();
      os << ')';
      break;
  }
  return os.str();
}

}  // namespace ember::dsl
