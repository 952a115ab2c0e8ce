using System;
using System.Linq;
using MoeDsl.Runtime.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Routing;

/// <summary>GMoE's graph router (BAI-LAB/GMoE <c>GoEgate</c> + <c>GraphSparseMoe</c>), computed densely.
/// Nodes: E experts with fixed random features X (xavier-uniform, never trained) passed through
/// <c>act(expert_proj X)</c>, and the token <c>act(token_proj x)</c>; one fixed graph (see <see cref="ExpertGraph"/>)
/// whose normalised adjacency is built here from the initial weights and rebuilt from the trained ones when an adapter is
/// loaded (<see cref="RebuildGraph"/>, GMoE's behaviour); <c>L</c> GCN layers <c>H = act(Â H W_l^T)</c> (no bias) on
/// [T, E+1, g]; <c>score</c> (g -&gt; 1) on the expert nodes gives the logits [T, E]; softmax fp32, top-k,
/// renormalised. No token cap. act = SiLU (LLaMA's hidden_act, which GMoE uses).
/// Also holds GMoE's learnable Poisson lambda and Normal sigma and the running expert load of the Normal balance loss.</summary>
/// <remarks>State dict (prefix <c>moe_gate.</c>): parameters <c>expert_proj.weight</c> [g, d], <c>token_proj.weight</c>
/// [g, d], <c>gcn.{l}.weight</c> [g, g], <c>score.weight</c> [1, g], <c>poisson_lambda</c> [], <c>normal_sigma</c> [];
/// buffers <c>expert_features</c> [E, d], <c>adjacency</c> [E+1, E+1], <c>expert_load</c> [E] (all persistent).
/// Trainable elements per layer: 2 g d + L g^2 + g + 2.</remarks>
public sealed class GraphRouter : Router
{
    private readonly Tensor expert_features;
    private readonly Tensor adjacency;
    private readonly Tensor expert_load;
    private readonly Linear expert_proj;
    private readonly Linear token_proj;
    private readonly ModuleList<Linear> gcn;
    private readonly Linear score;
    private readonly Parameter poisson_lambda;
    private readonly Parameter normal_sigma;

    /// <summary>Creates the router deterministically from <paramref name="seed"/>.</summary>
    /// <param name="inFeatures">Hidden size d.</param>
    /// <param name="experts">Number of experts E.</param>
    /// <param name="topK">Experts per token (GMoE: 2).</param>
    /// <param name="graphHidden">GCN width g (GMoE: 128).</param>
    /// <param name="graphLayers">GCN layers L (GMoE: 2).</param>
    /// <param name="density">Expert-expert edge density rho, diagonal included (GMoE: 0.25).</param>
    /// <param name="poissonLambda">Initial Poisson lambda (GMoE: 1.5).</param>
    /// <param name="seed">Seed of the generator that draws X and every initial weight.</param>
    public GraphRouter(int inFeatures, int experts, int topK, int graphHidden, int graphLayers, double density, double poissonLambda, long seed)
        : base("moe_gate", experts, jitterNoise: 0)
    {
        if (experts < 1) throw new ArgumentOutOfRangeException(nameof(experts), $"expert count {experts} must be >= 1");
        if (topK < 1 || topK > experts) throw new ArgumentOutOfRangeException(nameof(topK), $"top-k {topK} must be in [1, {experts}]");
        if (graphHidden < 1) throw new ArgumentOutOfRangeException(nameof(graphHidden), $"GCN width {graphHidden} must be >= 1");
        if (graphLayers < 1) throw new ArgumentOutOfRangeException(nameof(graphLayers), $"GCN layer count {graphLayers} must be >= 1");
        if (!(poissonLambda > 0)) throw new ArgumentOutOfRangeException(nameof(poissonLambda), $"Poisson lambda {poissonLambda} must be > 0");
        TopK = topK;
        GraphHidden = graphHidden;
        GraphLayers = graphLayers;
        Density = density;

        using var generator = new Generator((ulong)seed);
        // Same order as GMoE's init_moe_weight: X, token projection (gain 100), expert projection, score, GCN layers.
        expert_features = zeros(experts, inFeatures, dtype: ScalarType.Float32);
        FillXavierUniform(expert_features, 1.0, generator);
        token_proj = nn.Linear(inFeatures, graphHidden, hasBias: false, dtype: ScalarType.Float32);
        expert_proj = nn.Linear(inFeatures, graphHidden, hasBias: false, dtype: ScalarType.Float32);
        score = nn.Linear(graphHidden, 1, hasBias: false, dtype: ScalarType.Float32);
        gcn = new ModuleList<Linear>();
        for (int l = 0; l < graphLayers; l++) gcn.Add(nn.Linear(graphHidden, graphHidden, hasBias: false, dtype: ScalarType.Float32));
        using (no_grad())
        {
            FillXavierUniform(token_proj.weight!, 100.0, generator);
            FillXavierUniform(expert_proj.weight!, 1.0, generator);
            FillXavierUniform(score.weight!, 1.0, generator);
            foreach (Linear layer in gcn) FillXavierUniform(layer.weight!, 1.0, generator);
        }
        adjacency = GraphOfCurrentWeights();
        expert_load = zeros(experts, dtype: ScalarType.Float32);
        poisson_lambda = new Parameter(tensor((float)poissonLambda), requires_grad: true);
        normal_sigma = new Parameter(tensor(experts / 2.0f), requires_grad: true);
        RegisterComponents();
    }

    /// <summary>Experts chosen per token.</summary>
    public int TopK { get; }
    /// <summary>GCN width g.</summary>
    public int GraphHidden { get; }
    /// <summary>GCN layers L.</summary>
    public int GraphLayers { get; }
    /// <summary>Expert-expert edge density rho.</summary>
    public double Density { get; }

    /// <summary>Fixed expert features X [E, d] (buffer <c>expert_features</c>).</summary>
    public Tensor ExpertFeatures => expert_features;
    /// <summary>The normalised adjacency [E+1, E+1] (buffer <c>adjacency</c>; token node last).</summary>
    public Tensor Adjacency => adjacency;
    /// <summary>Running expert load [E] of the Normal balance loss (buffer <c>expert_load</c>, never part of a graph).</summary>
    public Tensor ExpertLoad => expert_load;
    /// <summary>Expert-node projection [g, d].</summary>
    public Parameter ExpertProjection => expert_proj.weight!;
    /// <summary>Token-node projection [g, d].</summary>
    public Parameter TokenProjection => token_proj.weight!;
    /// <summary>GCN weight of layer <paramref name="layer"/> [g, g].</summary>
    public Parameter GcnWeight(int layer) => gcn[layer].weight!;
    /// <summary>Scoring head [1, g].</summary>
    public Parameter Score => score.weight!;
    /// <summary>Poisson lambda of the distinction loss (scalar; clamped to [1, 2] where used).</summary>
    public Parameter PoissonLambda => poisson_lambda;
    /// <summary>Normal sigma of the balance loss (scalar).</summary>
    public Parameter NormalSigma => normal_sigma;

    /// <summary>Trainable elements of one graph router: 2 g d + L g^2 + g + 2.</summary>
    public static long TrainableParameterCount(int inFeatures, int graphHidden, int graphLayers)
        => Shared.DeclarationShapes.GraphRouterParameters(inFeatures, graphHidden, graphLayers);

    /// <inheritdoc />
    public override RoutingDecision forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor tokens = RouterInput(x);                                                             // [T, d]
        long t = tokens.shape[0];
        Tensor tokenPre = WideLinear.Linear(tokens, token_proj.weight!);                          // [T, g], before SiLU
        Tensor expertNodes = nn.functional.silu(nn.functional.linear(expert_features, expert_proj.weight!)); // [E, g]
        Tensor logits = UseKernels && GraphConvolution.Covers(tokenPre)
            ? GraphConvolution.Logits(tokenPre, expertNodes, adjacency, gcn.Select(layer => (Tensor)layer.weight!).ToList(), score.weight!)
            : LogitsByOps(nn.functional.silu(tokenPre), expertNodes, t);                            // [T, E]
        Tensor probs = logits.softmax(-1);
        var (experts, weights) = TopKRenormalised(probs, TopK);
        return new RoutingDecision(logits, probs, experts, weights).MoveToOuterDisposeScope();
    }

    /// <summary>Whether the CPU node <see cref="GraphConvolution"/> computes the GCN layers and scores where it covers the
    /// tensors (default); false keeps the tensor-op path below (tests compare the two).</summary>
    internal bool UseKernels { get; set; } = true;

    /// <summary>The GCN layers and scores as tensor ops (any device and dtype): the same maths as <see cref="GraphConvolution"/>.</summary>
    private Tensor LogitsByOps(Tensor tokenNode, Tensor expertNodes, long t)
    {
        // Node-major [E+1, T, g], so that the adjacency product of every token's graph is one 2-D GEMM
        // [E+1, E+1] x [E+1, T*g] rather than T batched [E+1, E+1] x [E+1, g] products.
        long n = Experts + 1;
        // The first layer's input has the same E expert rows for every token: their transform and their share of the
        // adjacency product are computed once ([rows, g]); only the token node's column varies per token. The last
        // layer keeps only the E expert rows (the token node's row is never scored).
        Linear first = gcn[0];
        Tensor rowsOfFirst = adjacency.narrow(0, 0, gcn.Count == 1 ? Experts : n);
        Tensor shared = rowsOfFirst.narrow(1, 0, Experts).matmul(nn.functional.linear(expertNodes, first.weight!));   // [rows, g]
        Tensor tokenColumn = rowsOfFirst.narrow(1, Experts, 1).unsqueeze(-1);                                          // [rows, 1, 1]
        Tensor h = nn.functional.silu(addcmul(shared.unsqueeze(1), tokenColumn, WideLinear.Linear(tokenNode, first.weight!).unsqueeze(0), 1)); // [rows, T, g]
        for (int l = 1; l < gcn.Count; l++)
        {
            // A (h W^T) = (A h) W^T: the node mixing first, so that the last layer transforms only the E rows it keeps.
            long rows = l == gcn.Count - 1 ? Experts : n;
            Tensor mixed = adjacency.narrow(0, 0, rows).matmul(h.view(n, t * GraphHidden)).view(rows, t, GraphHidden);
            h = nn.functional.silu(WideLinear.Linear(mixed, gcn[l].weight!));
        }
        return nn.functional.linear(h.narrow(0, 0, Experts), score.weight!).squeeze(-1).t();
    }

    /// <summary>Recomputes the graph from the current <c>expert_features</c> and <c>expert_proj</c> and writes it into the
    /// <c>adjacency</c> buffer, as GMoE's <c>init_moe_weight</c> does when an adapter is loaded (<c>get_edges</c> on the
    /// loaded <c>X</c> and trained <c>mlp_struct</c>, same density). Training never calls it: the graph of a training run
    /// is the one built at creation (GMoE computes it once before training).</summary>
    public void RebuildGraph()
    {
        using Tensor rebuilt = GraphOfCurrentWeights();
        using (no_grad()) adjacency.copy_(rebuilt);
    }

    /// <summary>The normalised adjacency of the graph <c>get_edges</c> finds on <c>act(expert_proj X)</c> now.</summary>
    private Tensor GraphOfCurrentWeights()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Tensor projected = nn.functional.silu(nn.functional.linear(expert_features, expert_proj.weight!));
        return ExpertGraph.NormalisedAdjacency(ExpertGraph.ExpertEdges(projected, Density)).MoveToOuterDisposeScope();
    }

    /// <summary>GMoE's running load: returns <c>load + batchLoad</c> (gradient through <paramref name="batchLoad"/> only)
    /// and, in training mode, stores its detached value as the new running load, as <c>self.count = now_count.detach()</c>.</summary>
    public Tensor AccumulateLoad(Tensor batchLoad)
    {
        Tensor total = expert_load.detach() + batchLoad;
        if (training)
            using (no_grad()) expert_load.copy_(total);
        return total;
    }

    /// <summary>Forgets the running load.</summary>
    public void ResetLoad()
    {
        using (no_grad()) expert_load.zero_();
    }

    /// <summary>xavier_uniform_ of a 2-D weight [out, in] drawn from <paramref name="generator"/>:
    /// U(-b, b), b = gain * sqrt(6 / (in + out)).</summary>
    private static void FillXavierUniform(Tensor weight, double gain, Generator generator)
    {
        double bound = gain * Math.Sqrt(6.0 / (weight.shape[0] + weight.shape[1]));
        using var _ = no_grad();
        weight.uniform_(-bound, bound, generator);
    }
}
