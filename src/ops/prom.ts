/**
 * prom-client's metric classes without its package index. The index also loads the cluster
 * aggregator, the Pushgateway client (node:http, node:https) and the default metrics, whose CPU
 * metric brings `@opentelemetry/api`: a data-path worker uses none of them, and they cost it
 * several MiB of memory (docs/performance.md, "Memory per process"). These are the very modules
 * the index re-exports (Node caches a module by its file), so a process that also loads the
 * index (the agent's primary, for its default metrics) gets the same classes either way.
 */
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const require = createRequire(import.meta.url);

export const Counter: typeof Prom.Counter = require('prom-client/lib/counter.js');
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge: typeof Prom.Gauge = require('prom-client/lib/gauge.js');
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram: typeof Prom.Histogram = require('prom-client/lib/histogram.js');
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export const Registry: typeof Prom.Registry = require('prom-client/lib/registry.js');
export type Registry = Prom.Registry;
