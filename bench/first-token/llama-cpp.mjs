// Greedy decoding with llama.cpp (node-llama-cpp 3.21.1, CPU, fp32 GGUF, F32 KV cache, flash attention off) for the
// first-token comparison (bench/first-token/run.sh; bench/MoeDsl.Benchmarks/README.md). Prints one line per event with milliseconds since the process
// started: LOADED, FIRST (the first generated id), DONE; then the ids.
// usage: node llama-cpp.mjs MODEL.gguf THREADS NEW_TOKENS ID,ID,... (run from a folder where node-llama-cpp is installed,
// or with NODE_PATH pointing at its node_modules)
import { getLlama } from "node-llama-cpp";

const [modelPath, threadsText, newText, promptText] = process.argv.slice(2);
const started = performance.timeOrigin;
const since = () => (performance.timeOrigin + performance.now() - started).toFixed(0);
const threads = Number(threadsText), newTokens = Number(newText);
const prompt = promptText.split(",").map(Number);

const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({
    contextSize: prompt.length + newTokens + 8, batchSize: 512, threads, flashAttention: false,
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
});
const sequence = context.getSequence();
console.log(`LOADED ${since()}`);
const ids = [];
for await (const id of sequence.evaluate(prompt, { temperature: 0 })) {
    if (ids.length === 0) console.log(`FIRST ${since()}`);
    ids.push(id);
    if (ids.length >= newTokens) break;
}
console.log(`DONE ${since()}`);
console.log(ids.join(" "));
await context.dispose();
await model.dispose();
