// The same package at run time: the `exports` entry loads and carries the contract and the engine.
import { CONTRACT_VERSION, startEngine, unknownCaller } from 'onair';

process.stdout.write(JSON.stringify({ contractVersion: CONTRACT_VERSION, startEngine: typeof startEngine, unknown: unknownCaller().known }));
