using System;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using MoeDsl.Runtime.Training;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Routing;

/// <summary>GMoE's graph at adapter load: rebuilt from the trained weights by default (BAI-LAB/GMoE
/// <c>init_moe_weight</c> calls <c>get_edges</c> on the loaded <c>X</c> and <c>mlp_struct</c>), the saved one as an opt-in.</summary>
[Collection(nameof(SerialTests))]   // torch's global generator: the same seed must give the same draws
public sealed class GraphRebuildTests
{
    // Hand-made X [5, 3] and expert projection W [3, 3]. |cosine| of silu(W x) (computed by hand, rounded):
    //   0-1 0.98389, 2-3 0.95159, 0-4 0.43589, 1-4 0.33751, 2-4 0.29327, 0-3 0.13503, ... every one >= 1.8e-4 away from
    //   the thresholds 1.00, 0.99, ... get_edges tries, so fp32 and fp64 find the same edges.
    private static readonly float[,] X = { { 1.0f, 0.2f, -0.5f }, { 0.9f, 0.4f, -0.3f }, { -0.2f, 1.1f, 0.6f }, { 0.1f, 0.8f, 0.9f }, { 0.7f, -0.6f, 0.4f } };
    private static readonly float[,] W = { { 0.8f, -0.1f, 0.3f }, { 0.2f, 0.9f, -0.4f }, { -0.3f, 0.5f, 1.0f } };

    /// <summary>Scalar transcription of GMoE's <c>get_edges</c> (threshold y = 1.0 lowered by 0.01 until the share of
    /// E x E entries with |cos| >= y reaches the density; token node joined to every expert both ways) followed by PyG
    /// <c>gcn_norm</c> (remaining self loops of weight 1, <c>D^-1/2 A D^-1/2</c>), in double precision.</summary>
    internal static double[,] ReferenceAdjacency(float[,] x, float[,] w, double density)
    {
        int e = x.GetLength(0), d = x.GetLength(1), g = w.GetLength(0);
        var unit = new double[e, g];
        for (int i = 0; i < e; i++)
        {
            double norm = 0;
            for (int o = 0; o < g; o++)
            {
                double v = 0;
                for (int k = 0; k < d; k++) v += w[o, k] * x[i, k];
                unit[i, o] = v / (1 + Math.Exp(-v));
                norm += unit[i, o] * unit[i, o];
            }
            for (int o = 0; o < g; o++) unit[i, o] /= Math.Max(Math.Sqrt(norm), 1e-12);
        }
        var similarity = new double[e, e];
        for (int i = 0; i < e; i++)
            for (int j = 0; j < e; j++)
            {
                double s = 0;
                for (int o = 0; o < g; o++) s += unit[i, o] * unit[j, o];
                similarity[i, j] = Math.Abs(s);
            }
        var mask = new bool[e, e];
        double y = 1.0, share = 0;
        while (share < density)
        {
            int count = 0;
            for (int i = 0; i < e; i++) for (int j = 0; j < e; j++) count += (mask[i, j] = similarity[i, j] >= y) ? 1 : 0;
            share = count / (double)(e * e);
            y -= 0.01;
        }
        int n = e + 1;
        var a = new double[n, n];
        for (int i = 0; i < e; i++) for (int j = 0; j < e; j++) a[i, j] = mask[i, j] ? 1 : 0;
        for (int i = 0; i < e; i++) a[i, e] = a[e, i] = 1;
        for (int i = 0; i < n; i++) a[i, i] = 1;
        var degree = new double[n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) degree[i] += a[i, j];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) a[i, j] /= Math.Sqrt(degree[i] * degree[j]);
        return a;
    }

    private static bool Same(Tensor a, Tensor b) => a.contiguous().bytes.SequenceEqual(b.contiguous().bytes);

    private static void AssertAdjacency(double[,] expected, Tensor actual, string what)
    {
        float[] got = actual.to(ScalarType.Float32).contiguous().data<float>().ToArray();
        int n = expected.GetLength(0);
        Assert.Equal(n * n, got.Length);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                Assert.True(Math.Abs(expected[i, j] - got[i * n + j]) <= 1e-6, $"{what}: entry [{i}, {j}] is {got[i * n + j]}, the reference's {expected[i, j]}");
    }

    [Fact]
    public void RebuiltGraphEqualsAScalarTranscriptionOfGmoesGetEdges()
    {
        using var scope = NewDisposeScope();
        using var router = new GraphRouter(3, 5, 2, 3, 1, 0.4, 1.5, seed: 1);
        Tensor created = router.Adjacency.clone();
        using (no_grad())
        {
            router.ExpertFeatures.copy_(tensor(X));
            router.ExpertProjection.copy_(tensor(W));
        }
        router.RebuildGraph();
        double[,] reference = ReferenceAdjacency(X, W, 0.4);
        AssertAdjacency(reference, router.Adjacency, "rebuilt graph");

        // By hand from the table above: 0.4 x 25 needs 10 entries; at y = 0.44 there are 5 + 4, at y = 0.43 the pair 0-4
        // (0.43589) joins: edges 0-1, 2-3, 0-4 (11 entries, 0.44). Degrees with self loop and token node: expert 0 has 4,
        // experts 1-4 have 3, the token node 6.
        Assert.Equal(1 / Math.Sqrt(4 * 3), reference[0, 1], 12);
        Assert.Equal(1 / Math.Sqrt(4 * 3), reference[0, 4], 12);
        Assert.Equal(1 / 3.0, reference[2, 3], 12);
        Assert.Equal(0.0, reference[1, 4]);
        Assert.Equal(0.0, reference[0, 2]);
        Assert.Equal(1 / Math.Sqrt(3 * 6), reference[3, 5], 12);
        Assert.Equal(1 / 6.0, reference[5, 5], 12);
        Assert.False(Same(created, router.Adjacency), "the hand-made weights give another graph than the seed's; the rebuild must show it");
    }

    private static (float[,] Features, float[,] Projection) Weights(GraphRouter router)
    {
        static float[,] Matrix(Tensor t)
        {
            float[] flat = t.detach().contiguous().data<float>().ToArray();
            var m = new float[t.shape[0], t.shape[1]];
            Buffer.BlockCopy(flat, 0, m, 0, flat.Length * sizeof(float));
            return m;
        }
        return (Matrix(router.ExpertFeatures), Matrix(router.ExpertProjection));
    }

    /// <summary>Trains a few steps with a learning rate that moves the expert projections enough to change some layer's
    /// edges, saves, and returns the trained model's graphs (the ones it trained with) and the adapter folder.</summary>
    private static Tensor[] TrainAndSave(MoeCausalLM model, string folder)
    {
        var train = Families.FamilyTrainingTests.CopyTask(16, 1);
        var source = new SequencePoolBatches(train, 16, 0, seed: 3);
        using (var trainer = new Trainer(model, new TrainerOptions { Steps = 12, LearningRate = 5e-2, WarmupSteps = 1 }))
            for (int step = 1; step <= 12; step++) Assert.False(trainer.Step(step, source).Skipped);
        AdapterStore.Save(model, folder, "stories260K");
        return model.modules().OfType<GraphRouter>().Select(r => r.Adjacency.clone()).ToArray();
    }

    [Fact]
    public void TrainSaveLoadEvaluatesOnTheGraphRebuiltFromTheTrainedWeights()
    {
        using var folder = new IO.TempFolder();
        random.manual_seed(11);
        using var trained = StoriesGmoeRebuiltGraph.Create(TestModels.StoriesShape);
        Tensor[] trainedWith = TrainAndSave(trained, folder.Path);
        GraphRouter[] trainedRouters = trained.modules().OfType<GraphRouter>().ToArray();
        Assert.Equal(5, trainedRouters.Length);

        random.manual_seed(11);   // the same random base
        using var loaded = StoriesGmoeRebuiltGraph.Create(TestModels.StoriesShape);
        AdapterStore.Load(loaded, folder.Path);
        GraphRouter[] loadedRouters = loaded.modules().OfType<GraphRouter>().ToArray();
        int changed = 0;
        for (int l = 0; l < loadedRouters.Length; l++)
        {
            var (features, projection) = Weights(loadedRouters[l]);
            AssertAdjacency(ReferenceAdjacency(features, projection, 0.5), loadedRouters[l].Adjacency, $"layer {l} after load");
            if (!Same(trainedWith[l], loadedRouters[l].Adjacency)) changed++;
        }
        Assert.True(changed > 0, "training did not change any layer's edges; the test cannot tell a rebuilt graph from the saved one");

        // Evaluation: the loaded model's logits equal the trained model's once its graphs are rebuilt, not before.
        loaded.eval();
        trained.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor ids = tensor(Enumerable.Range(0, 20).Select(i => (long)(1 + i * 37 % 250)).ToArray()).unsqueeze(0);
        Tensor onSaved = trained.Forward(ids).Logits;
        foreach (GraphRouter r in trainedRouters) r.RebuildGraph();
        Tensor onRebuilt = trained.Forward(ids).Logits;
        Tensor afterLoad = loaded.Forward(ids).Logits;
        Assert.True(afterLoad.bytes.SequenceEqual(onRebuilt.bytes), "the loaded model does not evaluate on the rebuilt graph");
        Assert.False(afterLoad.bytes.SequenceEqual(onSaved.bytes), "the rebuilt graph does not change the logits");
    }

    [Fact]
    public void DeclaredSavedGraphAndTrainingResumeKeepTheGraphTheAdapterTrainedWith()
    {
        using var folder = new IO.TempFolder();
        random.manual_seed(11);
        using var trained = StoriesGmoeSavedGraph.Create(TestModels.StoriesShape);
        Tensor[] trainedWith = TrainAndSave(trained, folder.Path);
        Assert.False((bool)AdapterConfig.Parse(Path.Combine(folder.Path, AdapterStore.ConfigFile))["graph_rebuilt_at_load"]!);

        using var loaded = StoriesGmoeSavedGraph.Create(TestModels.StoriesShape);
        AdapterStore.Load(loaded, folder.Path);
        GraphRouter[] routers = loaded.modules().OfType<GraphRouter>().ToArray();
        for (int l = 0; l < routers.Length; l++) Assert.True(Same(trainedWith[l], routers[l].Adjacency), $"layer {l}: the saved graph was not kept");

        // A training checkpoint resumes on the saved graph whatever the declaration says (the run continues as it trained).
        using var resumed = StoriesGmoeRebuiltGraph.Create(TestModels.StoriesShape);
        AdapterStore.LoadInto(resumed, folder.Path, resumingTraining: true);
        routers = resumed.modules().OfType<GraphRouter>().ToArray();
        for (int l = 0; l < routers.Length; l++) Assert.True(Same(trainedWith[l], routers[l].Adjacency), $"layer {l}: resume changed the graph");
    }

    [Fact]
    public void AnAdapterSavedBeforeTheFieldExistedLoadsAndReadsAsTheSavedGraph()
    {
        using var folder = new IO.TempFolder();
        random.manual_seed(11);
        using var trained = StoriesGmoeRebuiltGraph.Create(TestModels.StoriesShape);
        TrainAndSave(trained, folder.Path);
        string configPath = Path.Combine(folder.Path, AdapterStore.ConfigFile);
        JsonObject config = AdapterConfig.Parse(configPath);
        Assert.True((bool)config["graph_rebuilt_at_load"]!);
        Assert.True(((GraphRouterSettings)AdapterConfig.Read(configPath).Router!).RebuiltAtLoad);
        config.Remove("graph_rebuilt_at_load");
        File.WriteAllText(configPath, config.ToJsonString());

        // Read back as the behaviour it was written under (the saved graph); loading into a declaration follows the declaration.
        Assert.False(((GraphRouterSettings)AdapterConfig.Read(configPath).Router!).RebuiltAtLoad);
        using var loaded = StoriesGmoeRebuiltGraph.Create(TestModels.StoriesShape);
        AdapterStore.Load(loaded, folder.Path);
        foreach (GraphRouter r in loaded.modules().OfType<GraphRouter>())
        {
            var (features, projection) = Weights(r);
            AssertAdjacency(ReferenceAdjacency(features, projection, 0.5), r.Adjacency, "old adapter, rebuilt");
        }

        config["graph_rebuilt_at_load"] = "yes";
        File.WriteAllText(configPath, config.ToJsonString());
        var e = Assert.Throws<MoeDsl.Runtime.IO.ModelFormatException>(() => AdapterConfig.Read(configPath));
        Assert.Equal("graph_rebuilt_at_load", e.Item);
    }
}
