using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MoeDsl.Runtime.Kernels;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Routing;

/// <summary>The Graph router's GCN layers and scoring head (<see cref="GraphRouter"/>) as one autograd node on the CPU:
/// the three GEMMs of a layer (forward, input and weight gradient) on <see cref="WideGemm"/> (libtorch where it does not
/// cover a product) and everything between them — the node mixing by the adjacency, SiLU and its derivative, the score
/// head, the first layer's shared expert rows — in one token-parallel C# pass per layer and direction. The same maths as
/// <see cref="GraphRouter"/>'s tensor-op path, which runs wherever <see cref="Covers"/> says no (about 60 libtorch calls
/// a forward + backward). Measured alternating the two paths in one process (2026-12-02, 2 threads, 256 tokens, d = 512,
/// g = 128, E = 8, two layers): forward + backward 7.3-8.4 ms on the tensor ops, 5.2-6.3 ms here, the backward 5.1-5.9 ->
/// 3.2-3.9 ms. Part of that is subnormal arithmetic, which the tensor ops cannot avoid: see <see cref="Sigmoid"/> and
/// <see cref="Flush"/>.</summary>
/// <remarks>
/// Notation (n = E + 1 nodes, token node last; A the normalised adjacency; P [T, g] the token nodes, X [E, g] the expert
/// nodes, both after SiLU; W_l [g, g]; s [g] the score head):
/// <list type="bullet">
/// <item>layer 1: <c>Z_1[i, t] = S_1[i] + A[i, E] Q[t]</c> with <c>Q = P W_1^T</c> and <c>S_1 = A[:, :E] (X W_1^T)</c> (the
/// expert rows are the same for every token, so their product is computed once), rows i &lt; n (&lt; E when it is the last);</item>
/// <item>layer l &gt; 1: <c>M_l[i, t] = sum_j A[i, j] silu(Z_(l-1)[j, t])</c>, <c>Z_l = M_l W_l^T</c> (mixing first, so that the
/// last layer transforms only the E expert rows it scores);</item>
/// <item><c>logits[t, i] = s . silu(Z_L[i, t])</c>, i &lt; E.</item>
/// </list>
/// Tensors of layers past the first are token-major [T, rows, g]: each layer's product is one GEMM over T x rows (the row
/// order is the GEMM's to choose), and a pass finds a token's rows next to each other (node-major, rows 128 KiB apart at
/// 256 tokens and g = 128, the 17 streams of a pass fell into the same L1 sets). Kept
/// for backward: the token projection and P, Q, S_1, M_l and Z_l of every later layer, and sigma(Z_l) of every layer (so
/// that backward takes no exponential); Z_1 is recomputed from Q and S_1.
/// Every gradient this node computes has its subnormal values flushed to zero (<see cref="Flush"/>).
/// </remarks>
internal sealed unsafe class GraphConvolution : autograd.SingleTensorFunction<GraphConvolution>
{
    /// <inheritdoc />
    public override string Name => "MoeDsl.GraphConvolution";

    /// <summary>Tokens per parallel task of a pass.</summary>
    private const long TokensPerTask = 8;

    /// <summary>Whether the node runs on these tensors: AVX2/FMA, CPU, fp32 (every tensor of the router has the token
    /// projection's device and dtype).</summary>
    public static bool Covers(Tensor tokenProjection) => ExpertKernels.Supports(tokenProjection);

    /// <summary>The logits [T, E] of the token nodes <c>P = silu(tokenProjection)</c> (<paramref name="tokenProjection"/>
    /// [T, g] = <c>token_proj x</c>; the SiLU is taken here so that its gradient is flushed like the layers', see
    /// <see cref="Flush"/>) and <paramref name="expertNodes"/> [E, g] (after SiLU) through the GCN layers
    /// <paramref name="layers"/> ([g, g] each) on <paramref name="adjacency"/> [E+1, E+1] (no gradient) and the head
    /// <paramref name="score"/> [1, g].</summary>
    public static Tensor Logits(Tensor tokenProjection, Tensor expertNodes, Tensor adjacency, IReadOnlyList<Tensor> layers, Tensor score)
    {
        var vars = new object[4 + layers.Count];
        vars[0] = tokenProjection.contiguous();
        vars[1] = expertNodes.contiguous();
        vars[2] = adjacency.contiguous();
        vars[3] = score.contiguous();
        for (int l = 0; l < layers.Count; l++) vars[4 + l] = layers[l].contiguous();
        return apply(vars);
    }

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor pre = (Tensor)vars[0], x = (Tensor)vars[1], a = (Tensor)vars[2], s = (Tensor)vars[3];
        Tensor p = nn.functional.silu(pre);
        int layers = vars.Length - 4;
        var shape = new Shape(p.shape[0], p.shape[1], (int)x.shape[0]);
        Tensor w1 = (Tensor)vars[4];
        long rows1 = layers == 1 ? shape.Experts : shape.Nodes;
        Tensor q = WideLinear.Linear(p, w1);                                                                            // [T, g]
        Tensor s1 = a.narrow(0, 0, rows1).narrow(1, 0, shape.Experts).matmul(nn.functional.linear(x, w1)).contiguous(); // [rows1, g]
        var first = PreActivations.FirstLayer(s1, a, shape, q);
        var saved = new List<Tensor> { p, x, a, s, q, s1, pre };
        for (int l = 0; l < layers; l++) saved.Add((Tensor)vars[4 + l]);

        // sigma(Z_l) of every layer, written by the pass that reads Z_l and kept, so that backward takes no exponential.
        var sigmas = new Tensor[layers];
        PreActivations source = first;
        for (int l = 1; l < layers; l++)
        {
            long rows = l == layers - 1 ? shape.Experts : shape.Nodes;
            Tensor mixed = empty(shape.Tokens, rows, shape.Width);
            sigmas[l - 1] = empty(shape.Tokens, shape.Nodes, shape.Width);
            Mix(source, a, shape, rows, mixed, sigmas[l - 1]);
            Tensor z = WideLinear.Linear(mixed, (Tensor)vars[4 + l]);                                                  // [T, rows, g]
            saved.Add(mixed);
            saved.Add(z);
            source = PreActivations.Stored(z, shape);
        }
        Tensor logits = empty(shape.Tokens, shape.Experts);
        sigmas[layers - 1] = empty(shape.Tokens, shape.Experts, shape.Width);
        Score(source, s, shape, logits, sigmas[layers - 1]);
        saved.AddRange(sigmas);
        ctx.save_for_backward(saved);
        ctx.save_data("layers", layers);
        // What this call created outlives its scope (autograd holds it for backward); the inputs stay where they are.
        foreach (Tensor t in saved)
            if (!Array.Exists(vars, v => ReferenceEquals(v, t))) t.MoveToOuterDisposeScope();
        return logits.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        List<Tensor> sv = ctx.get_saved_variables();
        int layers = (int)ctx.get_data("layers");
        Tensor p = sv[0], x = sv[1], a = sv[2], s = sv[3], q = sv[4], s1 = sv[5], pre = sv[6];
        var shape = new Shape(p.shape[0], p.shape[1], (int)x.shape[0]);
        Tensor W(int l) => sv[7 + l];                                    // 0-based layer l
        Tensor Mixed(int l) => sv[7 + layers + 2 * (l - 1)];             // M and Z of 0-based layer l >= 1
        Tensor Z(int l) => sv[7 + layers + 2 * (l - 1) + 1];
        Tensor Sigma(int l) => sv[7 + layers + 2 * (layers - 1) + l];    // sigma(Z) of 0-based layer l
        Tensor w1 = W(0);

        Tensor dl = grad_output.contiguous();
        long tasks = (shape.Tokens + TokensPerTask - 1) / TokensPerTask;
        long rows1 = layers == 1 ? shape.Experts : shape.Nodes;
        Tensor dsPartial = zeros(tasks, shape.Width), ds1Partial = zeros(tasks, rows1, shape.Width);
        Tensor dq = empty(shape.Tokens, shape.Width);
        var first = PreActivations.FirstLayer(s1, a, shape, q);
        var firstGradient = new FirstLayerGradient(dq, ds1Partial, rows1, shape);
        var dw = new Tensor[layers];

        if (layers == 1) ScoreBackward(first, Sigma(0), s, dl, shape, null, firstGradient, dsPartial);
        else
        {
            Tensor dz = empty(shape.Tokens, shape.Experts, shape.Width);
            ScoreBackward(PreActivations.Stored(Z(layers - 1), shape), Sigma(layers - 1), s, dl, shape, dz, default, dsPartial);
            for (int l = layers - 1; l >= 1; l--)
            {
                dw[l] = WeightGradient(dz, Mixed(l), W(l));
                Tensor dm = InputGradient(dz, W(l));                                                                  // [T, rows_l, g]
                long rows = dm.shape[1];
                if (l > 1)
                {
                    Tensor next = empty(shape.Tokens, shape.Nodes, shape.Width);
                    MixBackward(PreActivations.Stored(Z(l - 1), shape), Sigma(l - 1), a, shape, dm, rows, next, default);
                    dz = next;
                }
                else MixBackward(first, Sigma(0), a, shape, dm, rows, null, firstGradient);
            }
        }

        // Layer 1: Q = P W_1^T and S_1 = A[:rows1, :E] (X W_1^T).
        Tensor ds1 = ds1Partial.sum(dim: 0);                                                                          // [rows1, g]
        Tensor dxw = a.narrow(0, 0, rows1).narrow(1, 0, shape.Experts).t().matmul(ds1);                               // d(X W_1^T) [E, g]
        Tensor dpre = InputGradient(dq, w1);                                                                           // dP, then dP silu'(pre)
        SiluBackward(pre, shape, dpre);
        Tensor dx = dxw.matmul(w1);
        dw[0] = WeightGradient(dq, p, w1).add_(dxw.t().matmul(x));
        Tensor dsc = dsPartial.sum(dim: 0).unsqueeze(0);                                                             // [1, g]

        var grads = new List<Tensor> { dpre, dx, null!, dsc };
        grads.AddRange(dw);
        foreach (Tensor? g in grads) g?.MoveToOuterDisposeScope();
        return grads;
    }

    // --- the passes (token-parallel; columns in 8-wide vectors, the last one masked) ---

    /// <summary>M[i, t] = sum_j A[i, j] silu(Z[j, t]) for i &lt; rows, j &lt; n; sigma(Z) into <paramref name="sigmas"/> [T, n, g].</summary>
    private static void Mix(PreActivations source, Tensor adjacency, Shape shape, long rows, Tensor mixed, Tensor sigmas)
    {
        float* a = ExpertKernels.Data<float>(adjacency), m = ExpertKernels.Data<float>(mixed), sg = ExpertKernels.Data<float>(sigmas);
        int n = shape.Nodes;
        ForTokens(shape, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (t0, t1) =>
        {
            Vector256<float>* h = stackalloc Vector256<float>[n];
            var edges = new Edges(stackalloc int[(int)rows + 1], stackalloc int[(int)rows * n], stackalloc float[(int)rows * n]);
            edges.OfRows(a, n, rows, n);
            for (long t = t0; t < t1; t++)
                for (long c = 0; c < shape.Width; c += 8)
                {
                    int count = (int)Math.Min(8, shape.Width - c);
                    for (int j = 0; j < n; j++)
                    {
                        Vector256<float> z = source.Load(j, t, c, count), sigma = Sigmoid(z);
                        Store(sigma, sg + (t * n + j) * shape.Width + c, count);
                        h[j] = z * sigma;
                    }
                    for (int i = 0; i < rows; i++)
                    {
                        Vector256<float> acc = Vector256<float>.Zero;
                        for (int e = edges.Start[i]; e < edges.Start[i + 1]; e++) acc = Vector256.FusedMultiplyAdd(Vector256.Create(edges.Weight[e]), h[edges.Node[e]], acc);
                        Store(acc, m + (t * rows + i) * shape.Width + c, count);
                    }
                }
        });
    }

    /// <summary>logits[t, i] = s . silu(Z[i, t]) for i &lt; E; sigma(Z) into <paramref name="sigmas"/> [T, E, g].</summary>
    private static void Score(PreActivations source, Tensor score, Shape shape, Tensor logits, Tensor sigmas)
    {
        float* s = ExpertKernels.Data<float>(score), o = ExpertKernels.Data<float>(logits), sg = ExpertKernels.Data<float>(sigmas);
        int e = shape.Experts;
        ForTokens(shape, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (t0, t1) =>
        {
            Vector256<float>* acc = stackalloc Vector256<float>[e];
            for (long t = t0; t < t1; t++)
            {
                for (int i = 0; i < e; i++) acc[i] = Vector256<float>.Zero;
                for (long c = 0; c < shape.Width; c += 8)
                {
                    int count = (int)Math.Min(8, shape.Width - c);
                    Vector256<float> sv = Load(s + c, count);
                    for (int i = 0; i < e; i++)
                    {
                        Vector256<float> z = source.Load(i, t, c, count), sigma = Sigmoid(z);
                        Store(sigma, sg + (t * e + i) * shape.Width + c, count);
                        acc[i] = Vector256.FusedMultiplyAdd(sv, z * sigma, acc[i]);
                    }
                }
                for (int i = 0; i < e; i++) o[t * e + i] = Vector256.Sum(acc[i]);
            }
        });
    }

    /// <summary>dZ[i, t] = dlogits[t, i] s silu'(Z[i, t]) (stored in <paramref name="dz"/>, or reduced into the first
    /// layer's gradients when Z is the first layer), and ds += dlogits[t, i] silu(Z[i, t]) (per task).</summary>
    private static void ScoreBackward(PreActivations source, Tensor sigmas, Tensor score, Tensor dlogits, Shape shape, Tensor? dz, FirstLayerGradient first, Tensor dsPartial)
    {
        float* s = ExpertKernels.Data<float>(score), dl = ExpertKernels.Data<float>(dlogits), ds = ExpertKernels.Data<float>(dsPartial);
        float* sg = ExpertKernels.Data<float>(sigmas);
        float* dzp = dz is null ? null : ExpertKernels.Data<float>(dz);
        int e = shape.Experts;
        ForTokens(shape, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (t0, t1) =>
        {
            float* dsTask = ds + t0 / TokensPerTask * shape.Width;
            float* ds1Task = first.SharedTask(t0);
            for (long t = t0; t < t1; t++)
                for (long c = 0; c < shape.Width; c += 8)
                {
                    int count = (int)Math.Min(8, shape.Width - c);
                    Vector256<float> sv = Load(s + c, count), dsAcc = Load(dsTask + c, count), dq = Vector256<float>.Zero;
                    for (int i = 0; i < e; i++)
                    {
                        Vector256<float> z = source.Load(i, t, c, count), g = Vector256.Create(dl[t * e + i]);
                        Vector256<float> sigma = Load(sg + (t * e + i) * shape.Width + c, count);
                        dsAcc = Vector256.FusedMultiplyAdd(g, z * sigma, dsAcc);
                        Vector256<float> d = Flush(g * sv * SiluDerivative(z, sigma));
                        if (dzp != null) Store(d, dzp + (t * e + i) * shape.Width + c, count);
                        else first.Accumulate(ds1Task, i, c, count, d, ref dq, source);
                    }
                    Store(dsAcc, dsTask + c, count);
                    if (dzp == null) Store(Flush(dq), first.Q(t) + c, count);
                }
        });
    }

    /// <summary>dZ_prev[j, t] = silu'(Z_prev[j, t]) sum_i A[i, j] dM[i, t] for j &lt; n (stored in <paramref name="dz"/>, or
    /// reduced into the first layer's gradients when Z_prev is the first layer).</summary>
    private static void MixBackward(PreActivations source, Tensor sigmas, Tensor adjacency, Shape shape, Tensor dm, long rows, Tensor? dz, FirstLayerGradient first)
    {
        float* a = ExpertKernels.Data<float>(adjacency), dmp = ExpertKernels.Data<float>(dm), sg = ExpertKernels.Data<float>(sigmas);
        float* dzp = dz is null ? null : ExpertKernels.Data<float>(dz);
        int n = shape.Nodes;
        long sourceRows = dz is null ? first.Rows : n;
        ForTokens(shape, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (t0, t1) =>
        {
            Vector256<float>* g = stackalloc Vector256<float>[(int)rows];
            var edges = new Edges(stackalloc int[(int)sourceRows + 1], stackalloc int[(int)sourceRows * (int)rows], stackalloc float[(int)sourceRows * (int)rows]);
            edges.OfColumns(a, n, rows, sourceRows);
            float* ds1Task = first.SharedTask(t0);
            for (long t = t0; t < t1; t++)
                for (long c = 0; c < shape.Width; c += 8)
                {
                    int count = (int)Math.Min(8, shape.Width - c);
                    for (long i = 0; i < rows; i++) g[i] = Load(dmp + (t * rows + i) * shape.Width + c, count);
                    Vector256<float> dq = Vector256<float>.Zero;
                    for (int j = 0; j < sourceRows; j++)
                    {
                        Vector256<float> back = Vector256<float>.Zero;
                        for (int e = edges.Start[j]; e < edges.Start[j + 1]; e++) back = Vector256.FusedMultiplyAdd(Vector256.Create(edges.Weight[e]), g[edges.Node[e]], back);
                        Vector256<float> z = source.Load(j, t, c, count);
                        Vector256<float> d = Flush(back * SiluDerivative(z, Load(sg + (t * sourceRows + j) * shape.Width + c, count)));
                        if (dzp != null) Store(d, dzp + (t * n + j) * shape.Width + c, count);
                        else first.Accumulate(ds1Task, j, c, count, d, ref dq, source);
                    }
                    if (dzp == null) Store(Flush(dq), first.Q(t) + c, count);
                }
        });
    }

    /// <summary>d *= silu'(z) in place over [T, g] rows, subnormal results flushed to zero.</summary>
    private static void SiluBackward(Tensor preActivation, Shape shape, Tensor gradient)
    {
        float* z = ExpertKernels.Data<float>(preActivation), d = ExpertKernels.Data<float>(gradient);
        ForTokens(shape, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (t0, t1) =>
        {
            for (long i = t0 * shape.Width; i < t1 * shape.Width; i += 8)
            {
                int count = (int)Math.Min(8, t1 * shape.Width - i);
                Vector256<float> zv = Load(z + i, count);
                Store(Flush(Load(d + i, count) * SiluDerivative(zv, Sigmoid(zv))), d + i, count);
            }
        });
    }

    /// <summary>Runs <paramref name="body"/>(t0, t1) over the tokens in tasks of <see cref="TokensPerTask"/>: t0 is a
    /// multiple of it, so t0 / TokensPerTask names the task's slot of partial sums (one slot for all tokens when one
    /// thread takes them in one call).</summary>
    private static void ForTokens(Shape shape, Action<long, long> body) => ExpertKernels.ForRowRanges(shape.Tokens, TokensPerTask, body);

    /// <summary>The nonzero entries of the adjacency's rows (or columns), each task's own copy on its stack: GMoE's graph
    /// has density 0.25 among the experts, so a node mixes ~4 of the 9 rows at E = 8 rather than all of them.</summary>
    private readonly ref struct Edges
    {
        public Edges(Span<int> start, Span<int> node, Span<float> weight)
        {
            Start = start;
            Node = node;
            Weight = weight;
        }

        /// <summary>Entries of output row i: [Start[i], Start[i + 1]).</summary>
        public Span<int> Start { get; }
        /// <summary>The node each entry reads.</summary>
        public Span<int> Node { get; }
        /// <summary>The entry's adjacency weight.</summary>
        public Span<float> Weight { get; }

        /// <summary>Row i &lt; rows reads nodes j &lt; nodes with weight A[i, j] (A is n x n).</summary>
        public void OfRows(float* a, int n, long rows, long nodes) => Fill(a, n, rows, nodes, transposed: false);

        /// <summary>Output j &lt; outputs reads rows i &lt; rows with weight A[i, j] (the transpose's rows).</summary>
        public void OfColumns(float* a, int n, long rows, long outputs) => Fill(a, n, outputs, rows, transposed: true);

        private void Fill(float* a, int n, long outputs, long inputs, bool transposed)
        {
            int entries = 0;
            for (int o = 0; o < outputs; o++)
            {
                Start[o] = entries;
                for (int i = 0; i < inputs; i++)
                {
                    float w = transposed ? a[i * n + o] : a[o * n + i];
                    if (w == 0) continue;
                    Node[entries] = i;
                    Weight[entries++] = w;
                }
            }
            Start[(int)outputs] = entries;
        }
    }

    /// <summary>Tokens T, width g and experts E of one call.</summary>
    private readonly struct Shape
    {
        public Shape(long tokens, long width, int experts)
        {
            Tokens = tokens;
            Width = width;
            Experts = experts;
        }

        public long Tokens { get; }
        public long Width { get; }
        public int Experts { get; }
        public int Nodes => Experts + 1;
    }

    /// <summary>A layer's pre-activations Z: stored token-major [T, rows, g], or the first layer's
    /// <c>S_1[j] + A[j, E] Q[t]</c> computed where read.</summary>
    private readonly struct PreActivations
    {
        private readonly float* stored, shared, adjacency, q;
        private readonly long rows, width;
        private readonly int nodes, experts;

        private PreActivations(float* stored, long rows, float* shared, float* adjacency, float* q, Shape shape)
        {
            this.stored = stored;
            this.rows = rows;
            this.shared = shared;
            this.adjacency = adjacency;
            this.q = q;
            width = shape.Width;
            nodes = shape.Nodes;
            experts = shape.Experts;
        }

        /// <summary>Z stored as [T, rows, g].</summary>
        public static PreActivations Stored(Tensor z, Shape shape) => new(ExpertKernels.Data<float>(z), z.shape[1], null, null, null, shape);

        public static PreActivations FirstLayer(Tensor shared, Tensor adjacency, Shape shape, Tensor q)
            => new(null, 0, ExpertKernels.Data<float>(shared), ExpertKernels.Data<float>(adjacency), ExpertKernels.Data<float>(q), shape);

        /// <summary>A[j, E], node j's edge weight to the token node.</summary>
        public float TokenEdge(int j) => adjacency[j * nodes + experts];

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Load(int j, long t, long c, int count)
            => stored != null
                ? GraphConvolution.Load(stored + (t * rows + j) * width + c, count)
                : Vector256.FusedMultiplyAdd(Vector256.Create(TokenEdge(j)), GraphConvolution.Load(q + t * width + c, count), GraphConvolution.Load(shared + j * width + c, count));
    }

    /// <summary>Where the first layer's dZ_1 goes: dQ[t] = sum_j A[j, E] dZ_1[j, t] and, per task, dS_1[j] += dZ_1[j, t].</summary>
    private readonly struct FirstLayerGradient
    {
        private readonly float* dq, sharedPartial;
        private readonly long width;

        public FirstLayerGradient(Tensor dq, Tensor sharedPartial, long rows, Shape shape)
        {
            this.dq = ExpertKernels.Data<float>(dq);
            this.sharedPartial = ExpertKernels.Data<float>(sharedPartial);
            Rows = rows;
            width = shape.Width;
        }

        public long Rows { get; }

        public float* Q(long t) => dq + t * width;

        public float* SharedTask(long t0) => sharedPartial == null ? null : sharedPartial + t0 / TokensPerTask * Rows * width;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Accumulate(float* sharedTask, int j, long c, int count, Vector256<float> d, ref Vector256<float> dqAcc, PreActivations z)
        {
            dqAcc = Vector256.FusedMultiplyAdd(Vector256.Create(z.TokenEdge(j)), d, dqAcc);
            float* row = sharedTask + j * width + c;
            Store(GraphConvolution.Load(row, count) + d, row, count);
        }
    }

    // --- vector helpers ---

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Load(float* p, int count) => count == 8 ? Vector256.Load(p) : Avx.MaskLoad(p, TailMask(count));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector256<float> v, float* p, int count)
    {
        if (count == 8) Vector256.Store(v, p);
        else Avx.MaskStore(p, TailMask(count), v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TailMask(int count)
        => Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count)).AsSingle();

    /// <summary>v with its subnormal lanes set to zero. The gradients here are products of tiny SiLU derivatives (GMoE's
    /// token projection has gain 100, so many pre-activations sit far out on the negative side) and small upstream
    /// gradients: without the flush 3% of the token node's gradient was subnormal, and the GEMMs that read it ran at half
    /// speed on the test machine (subnormal operands take a slow path). A flushed value is below 1.2e-38.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Flush(Vector256<float> v)
        => Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(Vector256.Abs(v), Vector256.Create(1.17549435e-38f)), v, Vector256<float>.Zero);

    /// <summary>sigma(z), exactly 0 below z = -80 (where it is under 2e-35): GMoE's token projection has gain 100, so a
    /// large share of the token node's pre-activations lies far out on the negative side, where 1 / (1 + e^-z) is
    /// subnormal or rounds through subnormals, and every subnormal operand took a slow path (SiLU's backward over the
    /// [256, 128] token nodes ran at ~20 ns an element). silu(z) and silu'(z) there are below 2e-33 in magnitude.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sigmoid(Vector256<float> z)
    {
        Vector256<float> sigma = Vector256<float>.One / (Vector256<float>.One + ExpertKernels.Exp(Vector256.Min(-z, Vector256.Create(80f))));
        return Vector256.ConditionalSelect(Vector256.LessThan(z, Vector256.Create(-80f)), Vector256<float>.Zero, sigma);
    }

    /// <summary>silu'(z) = sigma(z) (1 + z (1 - sigma(z))).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SiluDerivative(Vector256<float> z, Vector256<float> sigma)
        => sigma * Vector256.FusedMultiplyAdd(z, Vector256<float>.One - sigma, Vector256<float>.One);

    // --- products (no autograd: this node records its own; its forward runs without grad, so WideLinear.Linear is the
    // bare product there) ---

    private static Tensor InputGradient(Tensor dy, Tensor w) => WideGemm.CoversInputGradient(dy, w) ? WideGemm.InputGradient(dy, w) : dy.matmul(w);

    /// <summary>dy^T x over every row: the gradient of W in <c>x W^T</c> (on the wide GEMM where its forward product is).</summary>
    private static Tensor WeightGradient(Tensor dy, Tensor x, Tensor w)
        => WideGemm.Covers(x, w) ? WideGemm.WeightGradient(dy, x) : dy.reshape(-1, dy.shape[^1]).t().matmul(x.reshape(-1, x.shape[^1]));
}
