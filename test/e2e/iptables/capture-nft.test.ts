import t from 'tap';
import { requireNamespaces } from '../helpers/require-root.js';
import { captureScenarios } from './capture-scenarios.js';

// Capture rules through the real kernel with the nf_tables backend (iptables-nft).
if (requireNamespaces(t)) captureScenarios(t, 'nft');
