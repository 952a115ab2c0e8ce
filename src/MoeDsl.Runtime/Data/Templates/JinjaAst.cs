using System.Collections.Generic;

namespace MoeDsl.Runtime.Data.Templates;

/// <summary>A statement of a parsed template; <see cref="Line"/> is its 1-based line in the source.</summary>
internal abstract record Node(int Line);

internal sealed record TextNode(int Line, string Text) : Node(Line);

internal sealed record OutputNode(int Line, Expr Value) : Node(Line);

internal sealed record IfNode(int Line, IReadOnlyList<(Expr Condition, IReadOnlyList<Node> Body)> Branches, IReadOnlyList<Node>? Else) : Node(Line);

internal sealed record ForNode(int Line, IReadOnlyList<string> Targets, Expr Iterable, Expr? Filter, IReadOnlyList<Node> Body, IReadOnlyList<Node>? Else) : Node(Line);

/// <summary><c>{% set name = value %}</c>, or <c>{% set ns.attr = value %}</c> when <see cref="Attribute"/> is given.</summary>
internal sealed record SetNode(int Line, string Name, string? Attribute, Expr Value) : Node(Line);

/// <summary>An expression; <see cref="Line"/> is where it starts.</summary>
internal abstract record Expr(int Line);

internal sealed record LiteralExpr(int Line, object? Value) : Expr(Line);

internal sealed record NameExpr(int Line, string Name) : Expr(Line);

internal sealed record AttributeExpr(int Line, Expr Target, string Name) : Expr(Line);

internal sealed record IndexExpr(int Line, Expr Target, Expr Index) : Expr(Line);

internal sealed record SliceExpr(int Line, Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr(Line);

internal sealed record CallExpr(int Line, Expr Callee, IReadOnlyList<Expr> Arguments, IReadOnlyList<(string Name, Expr Value)> Keywords) : Expr(Line);

internal sealed record FilterExpr(int Line, Expr Value, string Name, IReadOnlyList<Expr> Arguments, IReadOnlyList<(string Name, Expr Value)> Keywords) : Expr(Line);

internal sealed record TestExpr(int Line, Expr Value, string Name, bool Negated) : Expr(Line);

internal sealed record BinaryExpr(int Line, string Operator, Expr Left, Expr Right) : Expr(Line);

internal sealed record UnaryExpr(int Line, string Operator, Expr Operand) : Expr(Line);

internal sealed record ConditionalExpr(int Line, Expr Condition, Expr WhenTrue, Expr? WhenFalse) : Expr(Line);

internal sealed record ListExpr(int Line, IReadOnlyList<Expr> Items) : Expr(Line);

internal sealed record DictExpr(int Line, IReadOnlyList<(Expr Key, Expr Value)> Items) : Expr(Line);
